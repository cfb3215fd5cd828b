//! `/v1/entities`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{fields, problem, spawn_app};

#[tokio::test]
async fn an_editor_creates_reads_updates_and_deletes_an_entity() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let created = app
        .create_entity(&token, json!({ "type": "Person", "name": "  Ada Lovelace ", "confidence": 0.9, "source": "https://example.org/ada", "source_type": "web", "metadata": { "born": 1815 } }))
        .await?;
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(created["version"], 1);
    let id = created["id"].as_str().unwrap_or_default();

    let res = app.get(&format!("/v1/entities/{id}"), &token).await?;
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    assert_eq!(res.json::<Value>().await?, created);

    let res = app
        .request(Method::PATCH, &format!("/v1/entities/{id}"), &token)
        .header("if-match", "\"1\"")
        .header("content-type", "application/merge-patch+json")
        .body(
            json!({ "name": "Ada King", "confidence": null, "metadata": { "died": 1852 } })
                .to_string(),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"2\"")
    );
    let updated: Value = res.json().await?;
    assert_eq!(updated["name"], "Ada King");
    assert_eq!(updated["confidence"], Value::Null);
    assert_eq!(updated["metadata"], json!({ "born": 1815, "died": 1852 }));
    assert_eq!(updated["version"], 2);

    assert_eq!(
        app.delete(&format!("/v1/entities/{id}"), &token)
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.get(&format!("/v1/entities/{id}"), &token).await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    problem(
        app.delete(&format!("/v1/entities/{id}"), &token).await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    // create, update, delete: one audit row each, tagged with the request id.
    let ids = app.audit_request_ids().await?;
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(Option::is_some));
    Ok(())
}

#[tokio::test]
async fn a_patch_needs_a_current_if_match_and_a_valid_result() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let editor = app.token("editor").await?;
    let viewer = app.token("viewer").await?;
    let e = app
        .create_entity(&editor, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let path = format!("/v1/entities/{}", e["id"].as_str().unwrap_or_default());
    let patch = |token: &str, if_match: Option<&str>, body: Value| {
        let mut req = app.request(Method::PATCH, &path, token).json(&body);
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        req.send()
    };
    problem(
        patch(&editor, None, json!({ "name": "B" })).await?,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition_required",
    )
    .await?;
    problem(
        patch(&editor, Some("\"7\""), json!({ "name": "B" })).await?,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await?;
    problem(
        patch(&editor, Some("W/\"1\""), json!({ "name": "B" })).await?,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await?;
    // Authorization and validation come before the precondition.
    problem(
        patch(&viewer, Some("\"7\""), json!({ "name": "B" })).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    let body = problem(
        patch(
            &editor,
            Some("\"7\""),
            json!({ "confidence": 1.5, "id": "x" }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    let mut f = fields(&body);
    f.sort();
    assert_eq!(f, ["confidence", "id"]);
    let unchanged: Value = app.get(&path, &editor).await?.json().await?;
    assert_eq!(unchanged, e);
    Ok(())
}

#[tokio::test]
async fn one_422_names_what_the_reader_refused_and_what_only_the_stored_resource_shows()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let editor = app.token("editor").await?;
    let a = app
        .create_entity(&editor, json!({ "type": "Person", "name": "A" }))
        .await?;
    let b = app
        .create_entity(&editor, json!({ "type": "Person", "name": "B" }))
        .await?;
    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    let r: Value = app
        .create_relationship(&editor, &a, &b, "KNOWS")
        .await?
        .json()
        .await?;
    let path = format!("/v1/entities/{}", id(&a));
    // `name` is refused by the reader; the merged metadata is not an object.
    let body = problem(
        app.patch(
            &path,
            &editor,
            Some("\"1\""),
            &json!({ "name": "", "metadata": [1] }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["name", "metadata"]);
    // A changed end is known only from the stored relationship.
    let path = format!("/v1/relationships/{}", id(&r));
    let body = problem(
        app.patch(
            &path,
            &editor,
            Some("\"1\""),
            &json!({ "type": "9bad", "target_id": id(&a) }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    assert_eq!(fields(&body), ["type", "target_id"]);
    // A bad patch of an entity that does not exist: it does not exist.
    let missing = format!("/v1/entities/{}", uuid::Uuid::now_v7());
    problem(
        app.patch(&missing, &editor, Some("\"1\""), &json!({ "name": "" }))
            .await?,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn seeded_bad_values_are_refused_and_nothing_is_written() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let (entities, audit) = (app.count("entities").await?, app.count("audit_log").await?);
    let cases = [
        (
            json!({ "type": "Person", "name": "x", "confidence": 1.5 }),
            "confidence",
        ),
        (
            json!({ "type": "Person", "name": "x", "confidence": -0.1 }),
            "confidence",
        ),
        (
            json!({ "type": "Person", "name": "x", "confidence": "NaN" }),
            "confidence",
        ),
        (
            json!({ "type": "Person", "name": "x", "metadata": { "blob": "x".repeat(20 * 1024) } }),
            "metadata",
        ),
        (
            json!({ "type": "Person", "name": "x", "metadata": [1, 2] }),
            "metadata",
        ),
        (
            json!({ "type": "Person", "name": "x", "metadata": { "a": "b\u{0}c" } }),
            "metadata",
        ),
        (json!({ "type": "Person", "name": "" }), "name"),
        (json!({ "type": "Person", "name": "a\u{0}b" }), "name"),
        (json!({ "type": "Person", "name": "x".repeat(201) }), "name"),
        (json!({ "type": "9Person", "name": "x" }), "type"),
        (
            json!({ "type": "Person", "name": "x", "external_id": "x".repeat(201) }),
            "external_id",
        ),
        (
            json!({ "type": "Person", "name": "x", "source": "s".repeat(501) }),
            "source",
        ),
        (
            json!({ "type": "Person", "name": "x", "id": "01a20932-b8c5-72e9-aa4b-76fc2d306c81" }),
            "id",
        ),
        (
            json!({ "type": "Person", "name": "x", "version": 9 }),
            "version",
        ),
        (json!({ "name": "x" }), "type"),
    ];
    for (body, field) in cases {
        let res = app.post("/v1/entities", &token, &body).await?;
        let problem = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await?;
        assert_eq!(fields(&problem), [field], "{body}");
    }
    let res = app
        .request(Method::POST, "/v1/entities", &token)
        .header("content-type", "application/json")
        .body(r#"{"type":"Person","name":"x","confidence":NaN}"#)
        .send()
        .await?;
    problem(res, StatusCode::BAD_REQUEST, "malformed_json").await?;
    assert_eq!(
        (app.count("entities").await?, app.count("audit_log").await?),
        (entities, audit)
    );
    Ok(())
}

#[tokio::test]
async fn lists_filter_and_page_with_an_opaque_cursor() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    for (name, kind, confidence) in [
        ("Ada", "Person", 0.9),
        ("Alan", "Person", 0.4),
        ("Alonzo", "Person", 0.95),
        ("Analytical Engine", "Machine", 0.99),
        ("Babbage", "Person", 0.8),
    ] {
        app.create_entity(
            &token,
            json!({ "type": kind, "name": name, "confidence": confidence, "source_type": "book" }),
        )
        .await?;
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let page: Value = app
        .get(
            "/v1/entities?type=Person&name=Al&min_confidence=0.5",
            &token,
        )
        .await?
        .json()
        .await?;
    assert_eq!(names(&page), ["Alonzo"]);
    let page: Value = app
        .get("/v1/entities?name=A&source_type=book", &token)
        .await?
        .json()
        .await?;
    assert_eq!(names(&page), ["Ada", "Alan", "Alonzo", "Analytical Engine"]);

    let mut seen = Vec::new();
    let mut path = "/v1/entities?limit=2".to_owned();
    for _ in 0..5 {
        let page: Value = app.get(&path, &token).await?.json().await?;
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/entities?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["Ada", "Alan", "Alonzo", "Analytical Engine", "Babbage"]
    );
    Ok(())
}

#[tokio::test]
async fn out_of_range_list_parameters_are_422_never_clamped() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("viewer").await?;
    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=999999", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=1e9", "limit"),
        ("limit=abc", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("min_confidence=1.5", "min_confidence"),
        ("type=bad%20type", "type"),
        ("sort=name", "sort"),
    ] {
        let res = app.get(&format!("/v1/entities?{query}"), &token).await?;
        let body = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await?;
        assert_eq!(fields(&body), [field], "{query}");
    }
    assert_eq!(
        app.get("/v1/entities?limit=100", &token).await?.status(),
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn external_ids_are_unique_among_live_entities() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let body = json!({ "type": "Person", "name": "Ada", "external_id": "wiki:Q7259" });
    let first = app.create_entity(&token, body.clone()).await?;
    problem(
        app.post("/v1/entities", &token, &body).await?,
        StatusCode::CONFLICT,
        "external_id_taken",
    )
    .await?;
    app.delete(
        &format!("/v1/entities/{}", first["id"].as_str().unwrap_or_default()),
        &token,
    )
    .await?;
    app.create_entity(&token, body).await?;
    Ok(())
}

#[tokio::test]
async fn viewers_read_but_cannot_write() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let editor = app.token("editor").await?;
    let viewer = app.token("viewer").await?;
    let e = app
        .create_entity(&editor, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let path = format!("/v1/entities/{}", e["id"].as_str().unwrap_or_default());
    assert_eq!(app.get(&path, &viewer).await?.status(), StatusCode::OK);
    problem(
        app.post(
            "/v1/entities",
            &viewer,
            &json!({ "type": "Person", "name": "B" }),
        )
        .await?,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    problem(
        app.delete(&path, &viewer).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    assert_eq!(app.count("entities").await?, 1);
    Ok(())
}

#[tokio::test]
async fn lists_search_names_creation_time_and_metadata_with_wildcards_taken_literally()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (name, meta) in [
        ("Ada Lovelace", json!({ "born": 1815, "field": "maths" })),
        (
            "ÉMILIE du Châtelet",
            json!({ "born": 1706, "field": "physics" }),
        ),
        (
            "100% Pure_Logic",
            json!({ "field": "maths", "draft": true }),
        ),
        ("Charles Babbage", json!({ "born": "1791" })),
    ] {
        app.create_entity(
            &token,
            json!({ "type": "Person", "name": name, "metadata": meta }),
        )
        .await?;
    }
    let get = |q: &str| {
        let url = format!("/v1/entities?{q}");
        let (app, token) = (&app, &token);
        async move { anyhow::Ok(app.get(&url, token).await?.json::<Value>().await?) }
    };
    assert_eq!(names(&get("q=LOVE").await?), ["Ada Lovelace"]);
    assert_eq!(
        names(&get("q=%C3%A9milie").await?),
        ["ÉMILIE du Châtelet"],
        "Unicode folding"
    );
    assert_eq!(
        names(&get("q=%25").await?),
        ["100% Pure_Logic"],
        "% is literal"
    );
    assert_eq!(
        names(&get("q=a_l").await?),
        Vec::<String>::new(),
        "_ is literal"
    );
    assert_eq!(names(&get("q=pure_l").await?), ["100% Pure_Logic"]);
    assert_eq!(
        names(&get("metadata.field=maths").await?),
        ["Ada Lovelace", "100% Pure_Logic"]
    );
    assert_eq!(
        names(&get("metadata.field=maths&metadata.born=1815").await?),
        ["Ada Lovelace"]
    );
    assert_eq!(
        names(&get("metadata.born=1791").await?),
        ["Charles Babbage"],
        "strings too"
    );
    assert_eq!(
        names(&get("metadata.draft=true").await?),
        ["100% Pure_Logic"]
    );
    assert_eq!(
        names(&get("q=du&metadata.field=physics").await?),
        ["ÉMILIE du Châtelet"]
    );

    let all = get("").await?;
    let third_created = all["items"][2]["created_at"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let after = get(&format!(
        "created_after={}",
        third_created.replace('+', "%2B")
    ))
    .await?;
    assert_eq!(names(&after), ["Charles Babbage"]);
    // Keyset pages work with filters.
    let first = get("metadata.field=maths&limit=1").await?;
    assert_eq!(names(&first), ["Ada Lovelace"]);
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let second = get(&format!("metadata.field=maths&limit=1&cursor={cursor}")).await?;
    assert_eq!(names(&second), ["100% Pure_Logic"]);

    let p = problem(
        app.get(
            &format!(
                "/v1/entities?q={}&created_after=yesterday&metadata.a%20b=1&colour=red",
                "x".repeat(201)
            ),
            &token,
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await?;
    let mut named = fields(&p);
    named.sort();
    assert_eq!(named, ["colour", "created_after", "metadata.a b", "q"]);
    Ok(())
}

#[tokio::test]
async fn a_conditional_get_of_an_unchanged_resource_is_304_without_a_body() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = app.token("editor").await?;
    let a = app
        .create_entity(&token, json!({ "type": "Person", "name": "Ada" }))
        .await?;
    let b = app
        .create_entity(&token, json!({ "type": "Person", "name": "Bob" }))
        .await?;
    let r: Value = app
        .create_relationship(&token, &a, &b, "KNOWS")
        .await?
        .json()
        .await?;
    let a_path = format!("/v1/entities/{}", a["id"].as_str().unwrap_or_default());
    let r_path = format!("/v1/relationships/{}", r["id"].as_str().unwrap_or_default());
    let conditional = |path: &str, tags: &str| {
        app.request(Method::GET, path, &token)
            .header("if-none-match", tags)
            .send()
    };
    for path in [&a_path, &r_path] {
        for tags in ["\"1\"", "W/\"1\"", "\"7\", \"1\"", "*"] {
            let res = conditional(path, tags).await?;
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{path} {tags}");
            assert_eq!(
                res.headers().get("etag").and_then(|v| v.to_str().ok()),
                Some("\"1\"")
            );
            assert!(res.bytes().await?.is_empty(), "no body");
        }
        // Another version: the resource, in full.
        let res = conditional(path, "\"2\"").await?;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.json::<Value>().await?["version"], 1);
    }
    // After a change the old tag no longer matches.
    let res = app
        .patch(
            &a_path,
            &token,
            Some("\"1\""),
            &json!({ "name": "Ada King" }),
        )
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let res = conditional(&a_path, "\"1\"").await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await?["name"], "Ada King");
    // Authorization comes first: no credential, no 304.
    let res = app
        .client
        .get(app.url(&a_path))
        .header("if-none-match", "*")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A deleted resource is gone, whatever the client holds.
    app.delete(&a_path, &token).await?;
    let res = conditional(&a_path, "*").await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    Ok(())
}
