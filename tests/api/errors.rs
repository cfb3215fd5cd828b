//! The error envelope and the edges every request passes through.

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{fields, logs, problem, spawn_app};

#[tokio::test]
async fn malformed_wrongly_typed_and_oversized_bodies_get_precise_problems() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let send = |content_type: Option<&str>, body: Vec<u8>| {
        let mut req = app.request(Method::POST, "/v1/entities", &token).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    problem(
        send(Some("application/json"), b"{\"type\": ".to_vec()).await?,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await?;
    let deep = format!(
        "{{\"type\":\"P\",\"name\":\"x\",\"metadata\":{{\"a\":{}{}}}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    problem(
        send(Some("application/json"), deep.into_bytes()).await?,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await?;
    problem(
        send(Some("application/json"), b"[[[[".repeat(10_000)).await?,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await?;
    let body = problem(
        send(Some("application/json"), br#"["Person", "x"]"#.to_vec()).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["body"]);
    let nested = br#"{"type":"P","name":"x","metadata":{"a":[[[[[[[[[[1]]]]]]]]]]}}"#.to_vec();
    let body = problem(
        send(Some("application/json"), nested).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["metadata"]);
    problem(
        send(
            Some("application/json"),
            b"{\"type\":\"P\",\"name\":\"x\"} trailing".to_vec(),
        )
        .await?,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await?;
    problem(
        send(Some("text/plain"), b"{}".to_vec()).await?,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await?;
    problem(
        send(None, b"{}".to_vec()).await?,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await?;
    let huge = format!(
        "{{\"type\":\"P\",\"name\":\"{}\"}}",
        "x".repeat(1024 * 1024 + 1)
    );
    problem(
        send(Some("application/json"), huge.into_bytes()).await?,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await?;
    let dup = br#"{"type":"Person","name":"x","type":"Other"}"#.to_vec();
    let body = problem(
        send(Some("application/json"), dup).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["type"]);
    let wrong = br#"{"type":"Person","name":42}"#.to_vec();
    let body = problem(
        send(Some("application/json"), wrong).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["name"]);
    assert_eq!(app.count("entities").await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_body_that_repeats_a_key_anywhere_is_refused_naming_the_key() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let editor = app.token("editor").await?;
    let admin = app.token("admin").await?;
    let send = |method: Method, path: &str, token: &str, body: &str, content_type: &str| {
        app.request(method, path, token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
    };
    let created = app
        .create_entity(&editor, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let entity = format!(
        "/v1/entities/{}",
        created["id"].as_str().unwrap_or_default()
    );
    let users: serde_json::Value = app.get("/v1/users", &admin).await?.json().await?;
    let user = users["items"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["role"] == "editor"))
        .and_then(|u| u["id"].as_str())
        .context("an editor")?
        .to_owned();
    let cases = [
        (
            Method::POST,
            "/v1/entities".to_owned(),
            &editor,
            r#"{"type":"Person","name":"B","metadata":{"k":1,"k":2}}"#,
            "application/json",
            "metadata.k",
        ),
        (
            Method::PATCH,
            entity.clone(),
            &editor,
            r#"{"name":"first","name":"second"}"#,
            "application/merge-patch+json",
            "name",
        ),
        (
            Method::PATCH,
            format!("/v1/users/{user}"),
            &admin,
            r#"{"role":"viewer","role":"admin"}"#,
            "application/merge-patch+json",
            "role",
        ),
        (
            Method::POST,
            "/v1/batch".to_owned(),
            &editor,
            r#"{"entities":[{"type":"T","name":"n","metadata":{"a":{"b":1,"b":1}}}]}"#,
            "application/json",
            "entities[0].metadata.a.b",
        ),
    ];
    for (method, path, token, body, content_type, field) in cases {
        let p = problem(
            send(method, &path, token, body, content_type).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await?;
        assert_eq!(fields(&p), [field], "{body}");
    }
    // A key may hold a backtick; a body cut short is malformed, whatever
    // it repeats before the cut.
    let p = problem(
        send(
            Method::POST,
            "/v1/entities",
            &editor,
            r#"{"type":"T","name":"n","metadata":{"a`b":1,"a`b":2}}"#,
            "application/json",
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&p), ["metadata.a`b"]);
    problem(
        send(
            Method::POST,
            "/v1/entities",
            &editor,
            r#"{"type":"T","name":"n","metadata":{"k":1,"k":2}"#,
            "application/json",
        )
        .await?,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await?;
    assert_eq!(app.count("entities").await?, 1, "nothing was written");
    let unchanged: serde_json::Value = app.get(&entity, &editor).await?.json().await?;
    assert_eq!(unchanged["name"], "Ada");
    Ok(())
}

#[tokio::test]
async fn a_query_parameter_that_is_not_text_or_holds_nul_is_422_on_every_database()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("viewer").await?;
    for (query, field) in [
        ("metadata.a=x%00y", "metadata.a"),
        ("type=%FF%FE", "type"),
        ("name=ok&q=a%00", "q"),
        ("na%00me=x", "na\u{0}me"),
        ("limit=5&cursor=%C3%28", "cursor"),
    ] {
        let p = problem(
            app.get(&format!("/v1/entities?{query}"), &token).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await?;
        assert_eq!(fields(&p), [field], "{query}");
    }
    // Text that merely looks odd is still text: a plus, an escaped plus,
    // an escaped ampersand.
    let res = app.get("/v1/entities?q=a+b&name=%2B%26", &token).await?;
    assert_eq!(res.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn unknown_routes_methods_and_malformed_ids_are_problems() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("viewer").await?;
    problem(
        app.get("/v1/nothing-here", &token).await?,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await?;
    problem(
        app.client.get(app.url("/")).send().await?,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await?;
    let res = app
        .request(Method::PUT, "/v1/entities", &token)
        .send()
        .await?;
    assert_eq!(
        res.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await?;
    let res = app
        .request(Method::from_bytes(b"TRACE")?, "/v1/entities/x", &token)
        .send()
        .await?;
    problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await?;
    let body = problem(
        app.get("/v1/entities/not-a-uuid", &token).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["id"]);
    let body = problem(
        app.get("/v1/relationships/1%20OR%201=1", &token).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["id"]);
    problem(
        app.get(&format!("/v1/entities/{}", uuid::Uuid::now_v7()), &token)
            .await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let res = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await?;
    assert_eq!(
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-abc.123")
    );
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        assert_eq!(
            res.headers().get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }
    let res = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "bad id\twith tab")
        .send()
        .await?;
    let id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "a fresh id replaces an unsafe one: {id}"
    );
    assert_eq!(
        res.headers()
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    let body = problem(res, StatusCode::NOT_FOUND, "route_not_found").await?;
    assert_eq!(body["request_id"], id.as_str());
    Ok(())
}

#[tokio::test]
async fn injection_strings_are_stored_and_returned_literally() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    for payload in [
        "' OR 1=1--",
        "\"; DROP TABLE entities; --",
        "%",
        "_",
        "\\",
        "Robert'); DROP TABLE users;--",
    ] {
        let e = app
            .create_entity(
                &token,
                json!({ "type": "Person", "name": payload, "metadata": { payload: payload } }),
            )
            .await?;
        assert_eq!(e["name"], payload);
        let page: serde_json::Value = app
            .client
            .get(app.url("/v1/entities"))
            .bearer_auth(&token)
            .query(&[("name", payload)])
            .send()
            .await?
            .json()
            .await?;
        let names: Vec<_> = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert!(
            names.iter().all(|n| n.starts_with(payload)) && names.contains(&payload),
            "{payload}: {names:?}"
        );
    }
    assert_eq!(app.count("entities").await?, 6);
    Ok(())
}

#[tokio::test]
async fn the_audit_log_is_append_only_in_the_database_itself() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    app.create_entity(&token, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    assert_eq!(
        app.count("audit_log WHERE target_type IN ('entity', 'relationship')")
            .await?,
        1
    );
    assert!(
        app.execute("UPDATE audit_log SET action = 'forged'")
            .await
            .is_err()
    );
    assert!(app.execute("DELETE FROM audit_log").await.is_err());
    assert_eq!(
        app.count("audit_log WHERE target_type IN ('entity', 'relationship')")
            .await?,
        1
    );
    Ok(())
}

#[tokio::test]
async fn a_server_error_is_a_generic_problem_that_leaks_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("viewer").await?;
    // Evidence refers to relationships: it goes first.
    app.execute("DROP TABLE evidence").await?;
    app.execute("DROP TABLE relationships").await?;
    let res = app.get("/v1/relationships", &token).await?;
    let body = problem(res, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await?;
    let text = body.to_string().to_lowercase();
    for leak in [
        "select",
        "relationships",
        "sqlx",
        "sqlite",
        "postgres",
        "panicked",
        "table",
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_writers_all_succeed() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let bodies: Vec<_> = (0..40)
        .map(|i| json!({ "type": "Person", "name": format!("P{i}") }))
        .collect();
    let writes = bodies.iter().map(|b| app.post("/v1/entities", &token, b));
    let results = futures_util::future::join_all(writes).await;
    for res in results {
        assert_eq!(res?.status(), StatusCode::CREATED);
    }
    assert_eq!(
        (
            app.count("entities").await?,
            app.count("audit_log WHERE target_type IN ('entity', 'relationship')")
                .await?
        ),
        (40, 40)
    );
    Ok(())
}

#[tokio::test]
async fn a_server_error_is_logged_once_with_its_cause_and_request_id() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("viewer").await?;
    // Evidence refers to relationships: it goes first.
    app.execute("DROP TABLE evidence").await?;
    app.execute("DROP TABLE relationships").await?;
    let request_id = format!("log-check-{}", uuid::Uuid::new_v4().simple());
    let res = app
        .request(Method::GET, "/v1/relationships", &token)
        .header("x-request-id", &request_id)
        .send()
        .await?;
    problem(res, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await?;
    let lines = logs().lines_with(&request_id);
    let errors: Vec<_> = lines
        .iter()
        .filter(|l| l.contains(r#""level":"ERROR""#))
        .collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    assert!(
        errors[0].contains("relationships"),
        "the cause is logged: {}",
        errors[0]
    );
    let requests: Vec<_> = lines
        .iter()
        .filter(|l| l.contains(r#""message":"request""#))
        .collect();
    assert_eq!(requests.len(), 1, "one line per request: {lines:#?}");
    assert!(requests[0].contains(r#""status":500"#));
    Ok(())
}

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_id_route_principal_and_status()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("viewer").await?;
    // Evidence refers to relationships: it goes first.
    app.execute("DROP TABLE evidence").await?;
    app.execute("DROP TABLE relationships").await?;
    let request_id = format!("span-check-{}", uuid::Uuid::new_v4().simple());
    let res = app
        .request(Method::GET, "/v1/relationships?limit=5", &token)
        .header("x-request-id", &request_id)
        .send()
        .await?;
    problem(res, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await?;
    let lines = logs().lines_with(&request_id);
    // The cause, logged deep inside the request, and the access line.
    assert!(lines.len() >= 2, "{lines:#?}");
    for line in &lines {
        let line: serde_json::Value = serde_json::from_str(line)?;
        let root = line["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "request"))
            .with_context(|| format!("no root span: {line}"))?;
        assert_eq!(root["request_id"], request_id.as_str(), "{line}");
        assert_eq!(root["route"], "/v1/relationships", "{line}");
        assert_eq!(root["method"], "GET", "{line}");
        let principal = root["principal"].as_str().unwrap_or_default();
        assert!(principal.starts_with("user:"), "{line}");
        assert!(!principal.contains(&token), "no credential in a log line");
    }
    let access = lines
        .iter()
        .find(|l| l.contains(r#""message":"request""#))
        .context("the access line")?;
    let access: serde_json::Value = serde_json::from_str(access)?;
    assert_eq!(access["span"]["status"], 500, "{access}");
    Ok(())
}

#[tokio::test]
async fn a_problem_answer_carries_the_cors_headers_of_its_origin() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("viewer").await?;
    let missing = format!("/v1/entities/{}", uuid::Uuid::now_v7());
    // A handler's problem, a guard's refusal before any handler, and an
    // unauthenticated request: each readable by the page that sent it.
    for (path, bearer, status) in [
        (
            missing.as_str(),
            Some(token.as_str()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/entities?q=a%00",
            Some(token.as_str()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v1/entities", None, StatusCode::UNAUTHORIZED),
    ] {
        let mut req = app
            .client
            .get(app.url(path))
            .header("origin", "https://app.example.org");
        if let Some(bearer) = bearer {
            req = req.bearer_auth(bearer);
        }
        let res = req.send().await?;
        assert_eq!(res.status(), status, "{path}");
        assert_eq!(
            res.headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("https://app.example.org"),
            "{path}"
        );
        assert!(
            res.headers()
                .get("access-control-expose-headers")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("x-request-id")),
            "{path}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins_exactly() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    let res = app
        .client
        .get(app.url("/health/live"))
        .header("origin", "https://app.example.org")
        .send()
        .await?;
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("https://app.example.org")
    );
    assert!(header(&res, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")));
    assert_eq!(header(&res, "access-control-allow-credentials"), None);

    let res = app
        .client
        .get(app.url("/health/live"))
        .header("origin", "https://evil.example")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "access-control-allow-origin"), None);

    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/v1/entities"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let res = preflight("https://app.example.org").await?;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("https://app.example.org")
    );
    assert!(header(&res, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));

    let res = preflight("https://evil.example").await?;
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    problem(res, StatusCode::BAD_REQUEST, "bad_request").await?;
    Ok(())
}

#[tokio::test]
async fn readiness_reports_a_schema_behind_this_build() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let res = app.client.get(app.url("/health/ready")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await?;
    assert_eq!(body["checks"], json!({ "database": "ok", "schema": "ok" }));
    app.execute(
        "DELETE FROM seaql_migrations WHERE version = (SELECT MAX(version) FROM seaql_migrations)",
    )
    .await?;
    // Readiness answers its last checks for up to a second (they cost the
    // database, and the route is public): the change shows after that.
    let started = std::time::Instant::now();
    let res = loop {
        let res = app.client.get(app.url("/health/ready")).send().await?;
        if res.status() != StatusCode::OK || started.elapsed() > std::time::Duration::from_secs(3) {
            break res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let body = problem(res, StatusCode::SERVICE_UNAVAILABLE, "not_ready").await?;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("schema") && !d.contains("database")),
        "{body}"
    );
    assert_eq!(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await?
            .status(),
        StatusCode::OK
    );
    Ok(())
}
