//! Request rate limits.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, problem, spawn_app_with};

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A login attempt on a new connection (so requests spread over workers)
/// with a new forged `X-Forwarded-For` each time, which must not help.
async fn attempt(app: &TestApp, i: usize) -> anyhow::Result<reqwest::Response> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    Ok(client
        .post(app.url("/v1/auth/token"))
        .header("x-forwarded-for", format!("198.51.100.{i}"))
        .json(&json!({ "email": format!("user{i}@example.org"), "password": "not-the-password" }))
        .send()
        .await?)
}

#[tokio::test]
async fn the_auth_limit_is_per_client_across_workers_and_ignores_spoofed_forwarding()
-> anyhow::Result<()> {
    let app =
        spawn_app_with(&[("KG_RATE_LIMIT_AUTH_PER_MINUTE", "3"), ("KG_WORKERS", "2")]).await?;
    for i in 0..3 {
        assert_eq!(attempt(&app, i).await?.status(), StatusCode::UNAUTHORIZED);
    }
    let res = attempt(&app, 3).await?;
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("\"auth\";q=3;w=60")
    );
    let retry_after: u64 = header(&res, "retry-after").unwrap_or_default().parse()?;
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(header(&res, "ratelimit").is_some_and(|v| v.contains("r=0")));
    assert_eq!(
        header(&res, "x-request-id").map(|v| v.is_empty()),
        Some(false)
    );
    problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await?;
    assert_eq!(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await?
            .status(),
        StatusCode::OK,
        "other routes are not limited by it"
    );
    Ok(())
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() -> anyhow::Result<()> {
    let app = spawn_app_with(&[
        ("KG_RATE_LIMIT_AUTH_PER_MINUTE", "2"),
        ("KG_TRUSTED_PROXIES", "127.0.0.1, ::1"),
    ])
    .await?;
    let login_from = |client_ip: &'static str| {
        app.client
            .post(app.url("/v1/auth/token"))
            .header("x-forwarded-for", format!("203.0.113.250, {client_ip}"))
            .json(&json!({ "email": "x@example.org", "password": "not-the-password" }))
            .send()
    };
    assert_eq!(
        login_from("198.51.100.1").await?.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from("198.51.100.1").await?.status(),
        StatusCode::UNAUTHORIZED
    );
    problem(
        login_from("198.51.100.1").await?,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await?;
    assert_eq!(
        login_from("198.51.100.2").await?.status(),
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}

#[tokio::test]
async fn each_principal_has_its_own_limit_elsewhere() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_RATE_LIMIT_PER_MINUTE", "3")]).await?;
    let busy = app.token("viewer").await?;
    let other = app.token("viewer").await?;
    for _ in 0..3 {
        assert_eq!(
            app.get("/v1/entities", &busy).await?.status(),
            StatusCode::OK
        );
    }
    let res = app
        .request(Method::GET, "/v1/entities", &busy)
        .send()
        .await?;
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("\"default\";q=3;w=60")
    );
    problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await?;
    assert_eq!(
        app.get("/v1/entities", &other).await?.status(),
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn an_encoded_path_does_not_escape_the_auth_limit() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_RATE_LIMIT_AUTH_PER_MINUTE", "2")]).await?;
    let login = |path: &'static str| {
        app.client
            .post(app.url(path))
            .json(&json!({ "email": "x@example.org", "password": "not-the-password" }))
            .send()
    };
    assert_eq!(
        login("/v1/auth/token").await?.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login("/v1/%61uth/token").await?.status(),
        StatusCode::UNAUTHORIZED,
        "routed, and counted"
    );
    problem(
        login("/v1/%61uth/token").await?,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_second_forwarded_for_line_is_read_behind_a_trusted_proxy() -> anyhow::Result<()> {
    let app = spawn_app_with(&[
        ("KG_RATE_LIMIT_AUTH_PER_MINUTE", "2"),
        ("KG_TRUSTED_PROXIES", "127.0.0.1, ::1"),
    ])
    .await?;
    // The client forges the first line; the proxy adds the real address as a second line.
    let login = |forged: &'static str| {
        app.client
            .post(app.url("/v1/auth/token"))
            .header("x-forwarded-for", forged)
            .header("x-forwarded-for", "198.51.100.9")
            .json(&json!({ "email": "x@example.org", "password": "not-the-password" }))
            .send()
    };
    assert_eq!(login("1.1.1.1").await?.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("2.2.2.2").await?.status(), StatusCode::UNAUTHORIZED);
    problem(
        login("3.3.3.3").await?,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await?;
    Ok(())
}

/// A well-formed API key that no one was given: `kg_` and 43 base64url
/// characters that decode to 32 bytes (the last one's unused bits zero), so
/// that kg looks it up.
fn random_key() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("kg_{a}{}A", &b[..10])
}

#[tokio::test]
async fn random_api_keys_from_one_client_get_429s_before_any_lookup() -> anyhow::Result<()> {
    // Three failures a minute: a cell refills every 20 s, far longer than
    // the test takes.
    let app = spawn_app_with(&[("KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE", "3")]).await?;
    let valid = app.api_key("viewer").await?;
    let mut statuses = Vec::new();
    let mut costs = Vec::new();
    for _ in 0..200 {
        let before = crate::statements::statements(&app).await?;
        let res = app
            .client
            .get(app.url("/v1/entities"))
            .header("x-api-key", random_key())
            .send()
            .await?;
        statuses.push(res.status());
        costs.push(crate::statements::statements(&app).await? - before);
    }
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    // The third failure empties the bucket and refuses: then 429s only.
    assert_eq!(unauthorized, 3, "{statuses:?}");
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The control: each refused key was looked up (on PostgreSQL a miss
    // is not cached)...
    assert!(costs[..3].iter().all(|c| *c >= 1), "{costs:?}");
    // ...and the 429s cost the database nothing (at most the maintenance
    // switch's periodic re-read).
    let looked_up: u64 = costs[3..].iter().sum();
    assert!(
        looked_up <= 2,
        "{looked_up} statements for 197 refused requests"
    );

    let res = app
        .client
        .get(app.url("/v1/entities"))
        .header("x-api-key", random_key())
        .send()
        .await?;
    let retry_after: u64 = header(&res, "retry-after").unwrap_or_default().parse()?;
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("\"unauthenticated\";q=3;w=60")
    );
    problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await?;
    // The limit is the client address's: a valid key from the same address
    // waits too (ADR 10), and routes that need no credentials still answer.
    assert_eq!(
        app.get("/v1/entities", &valid).await?.status(),
        StatusCode::TOO_MANY_REQUESTS
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

#[tokio::test]
async fn failed_authentications_from_other_clients_do_not_count() -> anyhow::Result<()> {
    // Behind a trusted proxy, each forwarded client has its own budget.
    let app = spawn_app_with(&[
        ("KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE", "3"),
        ("KG_TRUSTED_PROXIES", "127.0.0.1, ::1"),
    ])
    .await?;
    let from = |client: &'static str| {
        app.client
            .get(app.url("/v1/entities"))
            .header("x-forwarded-for", client)
            .header("x-api-key", random_key())
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            from("198.51.100.1").await?.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("198.51.100.1").await?.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        from("::ffff:198.51.100.1").await?.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // A hop with a port is its address's: its failures refuse the address.
    for _ in 0..3 {
        assert_eq!(
            from("198.51.100.2:5555").await?.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("198.51.100.2").await?.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    Ok(())
}

#[tokio::test]
async fn a_lookup_cut_short_by_another_extractor_still_counts() -> anyhow::Result<()> {
    let app = spawn_app_with(&[("KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE", "3")]).await?;
    // The audit list refuses an unknown parameter while the key is being
    // looked up: actix answers that error and drops the lookup.
    for _ in 0..3 {
        let res = app
            .client
            .get(app.url("/v1/audit?bogus=1"))
            .header("x-api-key", random_key())
            .send()
            .await?;
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let next = app
        .client
        .get(app.url("/v1/entities"))
        .header("x-api-key", random_key())
        .send()
        .await?
        .status();
    // Each lookup started counted as a failure, although actix dropped it
    // for the query's error: the next request is refused.
    assert_eq!(next, StatusCode::TOO_MANY_REQUESTS);
    Ok(())
}

/// The Redis the shared-budget tests use: `KG_TEST_REDIS_URL` (CI starts
/// one and sets it); without it those tests say so and pass nothing off as
/// checked.
fn test_redis() -> Option<String> {
    let url = std::env::var("KG_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("KG_TEST_REDIS_URL is not set: the shared-budget test did not run");
    }
    url
}

/// Alternates `n` requests between two instances; answers the statuses.
async fn alternate(
    a: &TestApp,
    b: &TestApp,
    n: usize,
    send: impl Fn(&TestApp) -> reqwest::RequestBuilder,
) -> anyhow::Result<Vec<StatusCode>> {
    let mut statuses = Vec::with_capacity(n);
    for i in 0..n {
        statuses.push(send(if i % 2 == 0 { a } else { b }).send().await?.status());
    }
    Ok(statuses)
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn two_instances_sharing_redis_enforce_one_budget() -> anyhow::Result<()> {
    let Some(redis) = test_redis() else {
        return Ok(());
    };
    // A namespace of this test's own in a Redis other tests share.
    let prefix = format!("kg-test-{}:", uuid::Uuid::now_v7());
    let limits = [
        ("KG_REDIS_URL", redis.as_str()),
        ("KG_REDIS_KEY_PREFIX", prefix.as_str()),
        // Room for a first connection on a busy machine: a slow answer
        // would be counted locally, and the test would see why.
        ("KG_REDIS_TIMEOUT_MS", "2000"),
        ("KG_RATE_LIMIT_PER_MINUTE", "10"),
        ("KG_RATE_LIMIT_AUTH_PER_MINUTE", "4"),
    ];
    let a = spawn_app_with(&limits).await?;
    let b = a.another_instance_with(&limits).await?;
    let token = a.token("viewer").await?;

    // One principal: 12 requests over two instances, one budget of 10.
    let statuses = alternate(&a, &b, 12, |app| {
        app.request(Method::GET, "/v1/entities", &token)
    })
    .await?;
    assert_eq!(count(&statuses, StatusCode::OK), 10, "{statuses:?}");
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        2,
        "{statuses:?}"
    );
    let res = b.get("/v1/entities", &token).await?;
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("\"default\";q=10;w=60")
    );
    problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await?;

    // One client on the auth routes, a budget of 4: the login above took
    // one, so of 6 refreshes over two instances 3 are answered.
    let statuses = alternate(&a, &b, 6, |app| {
        app.client
            .post(app.url("/v1/auth/refresh"))
            .json(&json!({ "refresh_token": "not-a-token" }))
    })
    .await?;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        3,
        "{statuses:?}"
    );

    // The control: the same requests without Redis, each instance its own
    // budget, so 12 fit.
    let local = [("KG_RATE_LIMIT_PER_MINUTE", "10")];
    let c = spawn_app_with(&local).await?;
    let d = c.another_instance_with(&local).await?;
    let token = c.token("viewer").await?;
    let statuses = alternate(&c, &d, 12, |app| {
        app.request(Method::GET, "/v1/entities", &token)
    })
    .await?;
    assert_eq!(count(&statuses, StatusCode::OK), 12, "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn without_redis_answering_each_instance_enforces_its_own_limits() -> anyhow::Result<()> {
    // Nothing listens there: every attempt fails at once.
    let app = spawn_app_with(&[
        ("KG_REDIS_URL", "redis://:hunter2-redis-secret@127.0.0.1:1"),
        ("KG_RATE_LIMIT_PER_MINUTE", "3"),
    ])
    .await?;
    let token = app.token("viewer").await?;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get("/v1/entities", &token).await?.status());
    }
    // Fail open to this instance's limits: neither an error nor no limit.
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let warned = crate::helpers::logs().lines_with("the shared rate-limit budget does not answer");
    assert!(!warned.is_empty(), "the outage was not logged");
    assert!(
        crate::helpers::logs()
            .lines_with("hunter2-redis-secret")
            .is_empty(),
        "a log line holds the Redis password"
    );
    Ok(())
}

/// A Redis of the test's own on a free port, stopped when dropped.
struct OwnRedis {
    port: u16,
    child: std::process::Child,
}

impl OwnRedis {
    fn start(port: u16) -> anyhow::Result<Self> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()?;
        Ok(Self { port, child })
    }

    async fn ready(&self) -> anyhow::Result<()> {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("redis-server did not listen on {}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn instances_go_on_limiting_while_redis_is_stopped_and_share_again_when_it_is_back()
-> anyhow::Result<()> {
    // Runs where the shared-budget tests run (CI has redis-server).
    if test_redis().is_none() {
        return Ok(());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut redis = OwnRedis::start(port)?;
    redis.ready().await?;
    let url = format!("redis://127.0.0.1:{port}");
    let limits = [
        ("KG_REDIS_URL", url.as_str()),
        ("KG_REDIS_TIMEOUT_MS", "2000"),
        ("KG_RATE_LIMIT_PER_MINUTE", "6"),
    ];
    let a = spawn_app_with(&limits).await?;
    let b = a.another_instance_with(&limits).await?;
    let token = a.token("viewer").await?;
    let get = |app: &TestApp| app.request(Method::GET, "/v1/entities", &token);

    // Shared: 6 of 8 alternating requests.
    let statuses = alternate(&a, &b, 8, get).await?;
    assert_eq!(count(&statuses, StatusCode::OK), 6, "{statuses:?}");

    // Stopped: each instance counts alone, with a fresh local bucket of 6;
    // no request fails for it.
    redis.stop();
    let statuses = alternate(&a, &b, 16, get).await?;
    assert_eq!(count(&statuses, StatusCode::OK), 12, "{statuses:?}");
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        4,
        "{statuses:?}"
    );

    // Back on the same port, empty: after the once-a-second retry the
    // instances reconnect and share a new budget of 6 again.
    let back = OwnRedis::start(port)?;
    back.ready().await?;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let other = a.token("viewer").await?;
    let mut statuses = Vec::new();
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        statuses.push(
            app.request(Method::GET, "/v1/entities", &other)
                .send()
                .await?
                .status(),
        );
        if i < 2 {
            // The first request on each instance is its retry; give the
            // other its second too.
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        }
    }
    assert_eq!(count(&statuses, StatusCode::OK), 6, "{statuses:?}");
    drop(back);
    Ok(())
}
