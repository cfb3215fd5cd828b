//! The contract: `/openapi.json` names exactly the routes the router
//! serves, every error it documents is the one problem schema, and the docs
//! page is served from the binary under a policy that allows only this host.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, problem, spawn_app};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> anyhow::Result<Value> {
    let res = app.client.get(app.url("/openapi.json")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    Ok(res.json().await?)
}

/// Every `(method, path, operation)` of a document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if METHODS.contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_document_names_exactly_the_routes_the_router_serves() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let doc = document(&app).await?;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let served: BTreeSet<(String, String)> = kg_http::ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "/openapi.json names routes the router does not serve: {unserved:?}"
    );
    Ok(())
}

#[tokio::test]
async fn every_documented_error_is_the_problem_schema_and_secured_routes_say_so()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let doc = document(&app).await?;
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .map(|s| s.keys().cloned().collect::<BTreeSet<_>>())
        .unwrap_or_default();
    assert_eq!(
        schemes,
        ["api_key", "bearer", "cookie"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let codes = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .map(Vec::len);
    assert_eq!(codes, Some(kg_http::ProblemCode::ALL.len()));

    let ids: Vec<String> = operations(&doc)
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str().map(str::to_owned))
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        ids.len(),
        kg_http::ROUTES.len(),
        "an operation has no operationId"
    );
    assert_eq!(unique.len(), ids.len(), "operationIds repeat: {ids:?}");

    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"].as_str().unwrap_or_default().to_owned();
                assert!(
                    unique.contains(&target),
                    "{method} {path} {status} links {name} to no operation"
                );
            }
        }
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        assert!(
            responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3')),
            "{method} {path} documents no success"
        );
        for (status, response) in &responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
        for always in ["429", "500", "503"] {
            assert!(
                responses.contains_key(always),
                "{method} {path} lacks {always}"
            );
        }
        for (status, header) in [
            ("401", "WWW-Authenticate"),
            ("429", "Retry-After"),
            ("503", "Retry-After"),
        ] {
            if let Some(response) = responses.get(status) {
                assert!(
                    response["headers"].get(header).is_some(),
                    "{method} {path} {status} does not document {header}"
                );
            }
        }
        let public = op["security"].as_array().is_some_and(|reqs| {
            reqs.iter()
                .any(|r| r.as_object().is_some_and(|r| r.is_empty()))
        });
        if !public {
            for status in ["401", "403"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary_under_a_self_only_policy() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    let res = client.get(app.url("/docs")).send().await?;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/docs/index.html");

    let res = client.get(app.url("/docs/index.html")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    let policy = res.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(policy.starts_with("default-src 'none';"), "{policy}");
    for directive in policy.split(';').map(str::trim) {
        for source in directive.split_whitespace().skip(1) {
            // Nothing but this host, inline images, and inline code named by its hash.
            assert!(
                ["'self'", "'none'", "data:"].contains(&source) || source.starts_with("'sha256-"),
                "{directive} allows {source}"
            );
        }
    }
    assert!(
        res.headers()["content-type"]
            .to_str()?
            .starts_with("text/html")
    );
    let html = res.text().await?;
    for attribute in ["src=\"", "href=\""] {
        for reference in html.split(attribute).skip(1) {
            let target = reference.split('"').next().unwrap_or_default();
            assert!(
                !target.contains("//"),
                "the page loads {target} from elsewhere"
            );
        }
    }

    let init = client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await?;
    assert_eq!(init.status(), StatusCode::OK);
    let init = init.text().await?;
    assert!(init.contains("\"/openapi.json\""), "{init}");
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");

    for file in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let res = client.get(app.url(&format!("/docs/{file}"))).send().await?;
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert!(
            res.bytes().await?.len() > 10_000,
            "{file} is not the real file"
        );
    }
    // Only the files the page loads: not the rest of Swagger UI's archive.
    for other in [
        "missing.js",
        "oauth2-redirect.html",
        "swagger-ui-es-bundle.js",
    ] {
        let res = client
            .get(app.url(&format!("/docs/{other}")))
            .send()
            .await?;
        problem(res, StatusCode::NOT_FOUND, "route_not_found").await?;
    }

    // The API keeps its stricter policy.
    let api = client.get(app.url("/health/live")).send().await?;
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    Ok(())
}
