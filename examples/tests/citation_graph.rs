//! The library walk does real work against a real SQLite database.

#[tokio::test]
async fn the_library_walk_ingests_corrects_traverses_and_follows_the_feed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("kg.db").display());
    let report = kg_examples::citation_graph(&url).await?;
    assert_eq!(report.created, 7);
    assert_eq!(
        report.corrected_title,
        "A Mathematical Theory of Communication"
    );
    assert_eq!(
        report.reachable,
        [
            "Computing Machinery and Intelligence",
            "On Computable Numbers"
        ]
    );
    assert_eq!(report.feed.len(), 8, "{:?}", report.feed);
    assert_eq!(
        report.feed.last().map(String::as_str),
        Some("update entity")
    );
    Ok(())
}
