//! `.env.example` documents exactly the settings the service reads.

use std::cell::RefCell;
use std::collections::BTreeSet;

use kg_server::Settings;

/// Every `KG_*` name the settings reader asks for, in development and in
/// production, with nothing set (so every default and every check runs).
fn names_read() -> BTreeSet<String> {
    let read = RefCell::new(BTreeSet::new());
    for env in ["development", "production"] {
        let lookup = |name: &str| {
            read.borrow_mut().insert(name.to_owned());
            (name == "KG_ENV").then(|| env.to_owned())
        };
        // Production without a database URL or secret is refused; the names
        // were read on the way.
        let _ = Settings::from_lookup(&lookup);
    }
    read.into_inner()
}

/// Every `KG_*` name `.env.example` assigns, commented out or not.
fn names_documented() -> anyhow::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example"))?;
    Ok(text
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.trim()))
        .filter(|name| {
            name.starts_with("KG_")
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect())
}

#[test]
fn env_example_lists_every_setting_and_only_settings_that_exist() -> anyhow::Result<()> {
    let read = names_read();
    let documented = names_documented()?;
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&read).collect();
    assert!(
        undocumented.is_empty(),
        "read but not in .env.example: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "in .env.example but never read: {unknown:?}"
    );
    assert!(read.len() >= 20, "the reader was observed: {read:?}");
    Ok(())
}
