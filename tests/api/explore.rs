//! The graph explorer's files: served from the binary, under a policy that
//! allows this host only, compressed when asked, revalidated by tag.

use reqwest::StatusCode;

use crate::helpers::{problem, spawn_app, spawn_app_with};

const FILES: [&str; 6] = [
    "index.html",
    "explorer.js",
    "explorer.css",
    "cytoscape.min.js",
    "favicon.svg",
    "cytoscape.LICENSE.txt",
];

#[tokio::test]
async fn the_explorer_is_served_from_the_binary_under_a_self_only_policy() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = reqwest::Client::new();

    let res = client.get(app.url("/explore")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    assert!(headers["content-type"].to_str()?.starts_with("text/html"));
    let policy = headers["content-security-policy"].to_str()?.to_owned();
    assert!(policy.starts_with("default-src 'none';"), "{policy}");
    for directive in policy.split(';').map(str::trim) {
        for source in directive.split_whitespace().skip(1) {
            assert!(
                ["'self'", "'none'"].contains(&source),
                "{directive} allows {source}"
            );
        }
    }
    assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"));
    let html = res.text().await?;
    assert!(html.contains(r#"<meta name="kg-cookie-auth" content="false">"#));
    for attribute in ["src=\"", "href=\""] {
        for reference in html.split(attribute).skip(1) {
            let target = reference.split('"').next().unwrap_or_default();
            assert!(
                target.starts_with("/explore/") || target.starts_with('#'),
                "the page loads {target}"
            );
        }
    }
    // No inline script or style for the policy to refuse.
    assert!(!html.contains("<style") && !html.contains(" style="));
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(
            tag.contains(" src=\"/explore/"),
            "an inline script: <script{tag}>"
        );
        assert!(
            script
                .split('>')
                .nth(1)
                .is_some_and(|body| body.starts_with("</script"))
        );
    }
    assert!(policy.contains("form-action 'none'"), "{policy}");

    for file in FILES {
        let res = client
            .get(app.url(&format!("/explore/{file}")))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert_eq!(res.headers()["content-security-policy"], policy.as_str());
        assert!(res.headers().get("content-encoding").is_none(), "{file}");
        assert!(!res.bytes().await?.is_empty(), "{file}");
    }
    let library = client
        .get(app.url("/explore/cytoscape.min.js"))
        .send()
        .await?;
    assert!(
        library.text().await?.len() > 300_000,
        "not the real library"
    );

    // Only the page's own files.
    for other in [
        "missing.js",
        "vendor%2Fcytoscape.min.js",
        "..%2FCargo.toml",
        "vendor",
    ] {
        let res = client
            .get(app.url(&format!("/explore/{other}")))
            .send()
            .await?;
        problem(res, StatusCode::NOT_FOUND, "route_not_found").await?;
    }
    Ok(())
}

#[tokio::test]
async fn explorer_files_are_gzipped_when_asked_and_revalidated_by_tag() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = reqwest::Client::new();
    let url = app.url("/explore/cytoscape.min.js");

    let plain = client.get(&url).send().await?;
    let etag = plain.headers()["etag"].to_str()?.to_owned();
    assert_eq!(plain.headers()["cache-control"], "no-cache");
    assert!(
        plain.headers()["vary"]
            .to_str()?
            .starts_with("Accept-Encoding")
    );
    let plain = plain.bytes().await?;

    let gz = client
        .get(&url)
        .header("Accept-Encoding", "gzip, br")
        .send()
        .await?;
    assert_eq!(gz.status(), StatusCode::OK);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    // Another representation, another strong tag.
    let gz_etag = gz.headers()["etag"].to_str()?.to_owned();
    assert_ne!(gz_etag, etag);
    let gz = gz.bytes().await?;
    assert!(
        gz.len() * 2 < plain.len(),
        "{} of {}",
        gz.len(),
        plain.len()
    );
    assert_eq!(&gz[..2], [0x1f, 0x8b], "not a gzip stream");

    let refused = client
        .get(&url)
        .header("Accept-Encoding", "gzip;q=0")
        .send()
        .await?;
    assert!(refused.headers().get("content-encoding").is_none());

    let again = client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await?.is_empty());
    let zipped = client
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .header("If-None-Match", &gz_etag)
        .send()
        .await?;
    assert_eq!(zipped.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(zipped.headers()["etag"], gz_etag.as_str());
    // A tag of the other representation is not this one's.
    let crossed = client
        .get(&url)
        .header("If-None-Match", &gz_etag)
        .send()
        .await?;
    assert_eq!(crossed.status(), StatusCode::OK);
    let other = client
        .get(&url)
        .header("If-None-Match", "\"0\"")
        .send()
        .await?;
    assert_eq!(other.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn the_page_says_when_logins_may_ask_for_cookie_sessions() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_COOKIE_AUTH", "true")]).await?;
    let html = reqwest::get(app.url("/explore")).await?.text().await?;
    assert!(html.contains(r#"<meta name="kg-cookie-auth" content="true">"#));
    Ok(())
}
