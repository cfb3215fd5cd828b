//! The authorization matrix: every route the router serves has a rule, and
//! every principal gets exactly what the rule allows. A route added without
//! a row here fails this test.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user or API key.
    SignedIn,
    /// Signed-in people only: an account's own settings, not for API keys.
    Person,
    /// Editors and admins.
    Writer,
    /// Admins only.
    Admin,
}

const MATRIX: &[(&str, &str, Rule)] = &[
    ("GET", "/health/live", Rule::Public),
    ("GET", "/health/ready", Rule::Public),
    ("GET", "/metrics", Rule::Public),
    ("GET", "/openapi.json", Rule::Public),
    ("GET", "/docs", Rule::Public),
    ("GET", "/docs/{file}", Rule::Public),
    ("GET", "/explore", Rule::Public),
    ("GET", "/explore/{file}", Rule::Public),
    ("POST", "/v1/auth/token", Rule::Public),
    ("POST", "/v1/auth/refresh", Rule::Public),
    ("POST", "/v1/auth/logout", Rule::Person),
    ("POST", "/v1/auth/password", Rule::Person),
    ("GET", "/v1/auth/me", Rule::Person),
    ("GET", "/v1/entities", Rule::SignedIn),
    ("POST", "/v1/entities", Rule::Writer),
    ("GET", "/v1/entities/{id}", Rule::SignedIn),
    ("PATCH", "/v1/entities/{id}", Rule::Writer),
    ("DELETE", "/v1/entities/{id}", Rule::Writer),
    ("GET", "/v1/entities/{id}/relationships", Rule::SignedIn),
    ("POST", "/v1/entities/{id}/restore", Rule::Admin),
    ("GET", "/v1/entities/{id}/history", Rule::SignedIn),
    ("GET", "/v1/entities/{id}/neighbors", Rule::SignedIn),
    ("GET", "/v1/entities/{id}/duplicates", Rule::SignedIn),
    ("GET", "/v1/entities/{id}/evidence", Rule::SignedIn),
    ("POST", "/v1/entities/{id}/evidence", Rule::Writer),
    ("GET", "/v1/relationships", Rule::SignedIn),
    ("POST", "/v1/relationships", Rule::Writer),
    ("GET", "/v1/relationships/{id}", Rule::SignedIn),
    ("PATCH", "/v1/relationships/{id}", Rule::Writer),
    ("DELETE", "/v1/relationships/{id}", Rule::Writer),
    ("GET", "/v1/relationships/{id}/evidence", Rule::SignedIn),
    ("POST", "/v1/relationships/{id}/evidence", Rule::Writer),
    ("GET", "/v1/evidence", Rule::SignedIn),
    ("GET", "/v1/evidence/{id}", Rule::SignedIn),
    ("DELETE", "/v1/evidence/{id}", Rule::Writer),
    ("POST", "/v1/evidence/{id}/restore", Rule::Writer),
    ("POST", "/v1/batch", Rule::Writer),
    ("GET", "/v1/changes", Rule::SignedIn),
    ("GET", "/v1/audit", Rule::Admin),
    ("GET", "/v1/admin/maintenance", Rule::Admin),
    ("PUT", "/v1/admin/maintenance", Rule::Admin),
    ("GET", "/v1/api-keys", Rule::Admin),
    ("POST", "/v1/api-keys", Rule::Admin),
    ("DELETE", "/v1/api-keys/{id}", Rule::Admin),
    ("GET", "/v1/users", Rule::Admin),
    ("POST", "/v1/users", Rule::Admin),
    ("GET", "/v1/users/{id}", Rule::Admin),
    ("PATCH", "/v1/users/{id}", Rule::Admin),
    ("DELETE", "/v1/users/{id}", Rule::Admin),
];

/// What a principal must get from a route under a rule: `Some(status)` for
/// a refusal, `None` when authorization must let the request through (it
/// may still fail validation or find nothing).
fn expected(rule: Rule, principal: Option<&str>) -> Option<StatusCode> {
    let allowed = match (rule, principal) {
        (Rule::Public, _) => return None,
        (_, None) => return Some(StatusCode::UNAUTHORIZED),
        (Rule::SignedIn, Some(_)) => true,
        (Rule::Person, Some(who)) => !who.ends_with("-key"),
        (Rule::Writer, Some(who)) => !who.starts_with("viewer"),
        (Rule::Admin, Some(who)) => who == "admin",
    };
    if allowed {
        None
    } else {
        Some(StatusCode::FORBIDDEN)
    }
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<(StatusCode, Value)> {
    let path = path
        .replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{file}", "index.html");
    let mut req = app
        .client
        .request(Method::from_bytes(method.as_bytes())?, app.url(&path))
        .header("if-match", "\"1\"");
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if method != "GET" && method != "DELETE" {
        req = req.json(&json!({}));
    }
    let res = req.send().await?;
    let status = res.status();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

#[tokio::test]
async fn every_route_has_a_rule_and_every_principal_gets_exactly_what_it_allows()
-> anyhow::Result<()> {
    let served: Vec<(&str, &str)> = kg_http::ROUTES.to_vec();
    let ruled: Vec<(&str, &str)> = MATRIX.iter().map(|(m, p, _)| (*m, *p)).collect();
    for route in &served {
        assert!(
            ruled.contains(route),
            "route {route:?} has no authorization rule in MATRIX"
        );
    }
    for route in &ruled {
        assert!(
            served.contains(route),
            "MATRIX names {route:?}, which the router does not serve"
        );
    }

    let app = spawn_app().await?;
    for (method, path, rule) in MATRIX {
        for principal in [
            None,
            Some("viewer"),
            Some("editor"),
            Some("admin"),
            Some("viewer-key"),
            Some("editor-key"),
        ] {
            // A fresh credential for each call: logout would end a shared session.
            let token = match principal {
                Some(key) if key.ends_with("-key") => {
                    Some(app.api_key(key.trim_end_matches("-key")).await?)
                }
                Some(role) => Some(app.token(role).await?),
                None => None,
            };
            let (status, body) = call(&app, method, path, token.as_deref()).await?;
            match expected(*rule, principal) {
                Some(refused) => {
                    assert_eq!(status, refused, "{method} {path} as {principal:?}: {body}")
                }
                None => {
                    let refused =
                        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
                    assert!(
                        !refused,
                        "{method} {path} as {principal:?} was refused: {status} {body}"
                    );
                    assert_ne!(
                        body["code"], "route_not_found",
                        "{method} {path} is not routed"
                    );
                }
            }
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is not routed"
            );
            assert!(
                status.as_u16() < 500,
                "{method} {path} as {principal:?}: {status} {body}"
            );
        }
    }
    Ok(())
}
