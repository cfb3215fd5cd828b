//! The envelope around every request, as layers with one job each, from the
//! outside in: [`root_span`] (the request id and the root span),
//! [`access_log`] (metrics and the one access-log line), [`security_headers`],
//! [`problems`] (problem bodies carrying the id, and the single log record
//! of a 5xx's cause), [`guards`] (the authentication routes' per-client
//! limit and the maintenance switch, refusing before CORS or any handler),
//! then CORS.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};

use crate::extract::AuthenticatedUser;
use crate::{ApiError, HttpSettings};

/// CORS for an explicit list of origins. Requests from other origins still
/// reach the API (CORS is not access control) but get no CORS headers, so
/// browsers will not expose the responses to those pages. Credentials
/// (cookies) are not allowed: the API authenticates with bearer tokens.
pub(crate) fn cors(origins: &[String]) -> actix_cors::Cors {
    let cors = origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        });
    cors.allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            X_REQUEST_ID,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            X_REQUEST_ID,
        ])
        .max_age(600)
}

/// The request's id, in request extensions.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An inbound id is kept only when it is short and plain, so it cannot
/// forge log lines or smuggle markup.
fn valid_inbound(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// Seconds a refused client is asked to wait while the switch is on.
const MAINTENANCE_RETRY_AFTER: u64 = 30;

/// Whether the switch refuses this request. Health, sign-in and the switch
/// itself always pass, so an admin can turn it off over the API.
fn maintenance_refusal(
    mode: kg_application::ServiceMode,
    method: &actix_web::http::Method,
    path: &str,
) -> Option<ApiError> {
    use kg_application::ServiceMode;
    let exempt = path.starts_with("/health/")
        || path.starts_with("/v1/auth/")
        || path == "/v1/admin/maintenance"
        // The contract and its page, so an admin can reach the switch with them.
        || path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/");
    let safe = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let mut err = match mode {
        ServiceMode::Off => return None,
        _ if exempt => return None,
        ServiceMode::ReadOnly if safe => return None,
        ServiceMode::ReadOnly => ApiError::new(
            crate::ProblemCode::ReadOnly,
            "The service is read-only for now; reads work, writes are refused. Retry later.",
        ),
        ServiceMode::Maintenance => ApiError::new(
            crate::ProblemCode::Maintenance,
            "The service is down for maintenance. Retry later.",
        ),
    };
    err.set_retry_after(MAINTENANCE_RETRY_AFTER);
    Some(err)
}

/// The request id of the request being answered: read in every layer.
fn request_id_of(req: &actix_web::HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

/// The outermost layer: gives the request its id (a valid inbound one, or a
/// new one), opens the request's root span with it, runs everything else
/// inside that span, and answers the id in `X-Request-ID`. The span's
/// `route`, `principal` and `status` are filled in as they become known, so
/// every log line of the request carries them.
pub(crate) async fn root_span(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    use tracing::Instrument as _;
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_inbound(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = tracing::field::Empty,
        principal = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let mut res = next.call(req).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}

/// Records the route template a request matched in its root span. Wraps
/// each resource of the route table, which passes its own template.
pub(crate) async fn record_route(
    route: &'static str,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    tracing::Span::current().record("route", route);
    next.call(req).await
}

/// Records who is asking in the request's root span, once authenticated.
pub(crate) fn record_principal(principal: &str) {
    tracing::Span::current().record("principal", principal);
}

/// Metrics and the one access-log line of each request, with its latency.
pub(crate) async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<crate::AppState>>().cloned();
    let _in_flight = state.as_ref().map(|s| s.metrics.start());
    let method = req.method().clone();
    let path = req.match_info().as_str().to_owned();
    let res = next.call(req).await?;
    tracing::Span::current().record("status", res.status().as_u16());
    let request_id = request_id_of(res.request()).unwrap_or_default();
    let user_id = res
        .request()
        .extensions()
        .get::<AuthenticatedUser>()
        .map(|u| u.0.to_string());
    if let Some(state) = &state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let problem = res
            .response()
            .extensions()
            .get::<ProblemName>()
            .map(|p| p.0);
        state.metrics.finish(
            &route,
            method.as_str(),
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
            problem,
        );
    }
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        user_id = user_id.as_deref().unwrap_or("-"),
        "request"
    );
    Ok(res)
}

/// The problem `code` a response carries, for the metrics.
#[derive(Debug, Clone, Copy)]
struct ProblemName(&'static str);

/// Security headers on every response, and `no-store` on authentication's.
pub(crate) async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let hsts = req
        .app_data::<web::Data<HttpSettings>>()
        .is_some_and(|s| s.hsts);
    let is_auth = req.match_info().as_str().starts_with("/v1/auth/");
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let set = |h: &mut header::HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    // An API answer is never a page; the docs page brings its own policy.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            headers,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        );
    }
    if hsts {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        );
    }
    if is_auth {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    Ok(res)
}

/// Renders every problem with the request's id, and logs a 5xx's cause
/// once, here at the boundary.
pub(crate) async fn problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?;
    let (http_req, res) = res.into_parts();
    let mut res = res.map_into_boxed_body();
    let request_id = request_id_of(&http_req).unwrap_or_default();
    let mut problem = None;
    if let Some(api) = res.error().and_then(|e| e.as_error::<ApiError>()) {
        problem = Some(api.code().describe().0);
        let status = api.code().describe().1;
        if status.is_server_error() {
            tracing::error!(request_id = %request_id, error = %error_chain(api), "request failed");
        }
        let rendered = api.render(Some(&request_id));
        res = keep_cors(&res, rendered.map_into_boxed_body());
    } else if res.status() == actix_web::http::StatusCode::BAD_REQUEST
        && let Some(err) = res.error()
    {
        // A 400 from a middleware we use (a refused CORS preflight).
        let api = ApiError::new(crate::ProblemCode::BadRequest, err.to_string());
        problem = Some(api.code().describe().0);
        res = keep_cors(&res, api.render(Some(&request_id)).map_into_boxed_body());
    } else if res.status().is_server_error() {
        let cause = res.error().map(ToString::to_string).unwrap_or_default();
        tracing::error!(request_id = %request_id, error = %cause, "request failed");
    }
    if let Some(name) = problem {
        res.extensions_mut().insert(ProblemName(name));
    }
    Ok(ServiceResponse::new(http_req, res))
}

/// `rendered`, with the CORS headers the answer it replaces was given, so a
/// page on an allowed origin can read the problem as it can any answer.
fn keep_cors(
    original: &actix_web::HttpResponse<BoxBody>,
    mut rendered: actix_web::HttpResponse<BoxBody>,
) -> actix_web::HttpResponse<BoxBody> {
    for (name, value) in original.headers() {
        if name.as_str().starts_with("access-control-") || name == header::VARY {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
}

std::thread_local! {
    /// Set while a handler is being polled under [`contain_panics`], whose
    /// panics are logged as the request's 500.
    static CONTAINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes the process's panic hook quiet for panics that [`contain_panics`]
/// catches: each is logged once, as the request's 500 with its request id,
/// rather than also as a bare line on standard error. Other panics go to
/// the hook that was installed before. Installs itself once per process.
pub fn quiet_contained_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

/// A panic in a handler answers 500 problem+json (logged once with the
/// request id, by [`problems`]); the worker goes on serving. Wraps each
/// route, innermost: it keeps a handle on the request, which the router
/// and the resource must not see shared.
pub(crate) async fn contain_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let http_req = req.request().clone();
    let mut handling = Box::pin(next.call(req));
    let outcome = std::future::poll_fn(|cx| {
        CONTAINED.with(|c| c.set(true));
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handling.as_mut().poll(cx)));
        CONTAINED.with(|c| c.set(false));
        match polled {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(done)) => std::task::Poll::Ready(Ok(done)),
            Err(payload) => std::task::Poll::Ready(Err(payload)),
        }
    })
    .await;
    match outcome {
        Ok(done) => done.map(ServiceResponse::map_into_boxed_body),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|m| (*m).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let err = ApiError::from(kg_application::AppError::Internal(
                format!("the handler panicked: {message}").into(),
            ));
            Ok(ServiceResponse::new(
                http_req,
                actix_web::HttpResponse::from_error(err),
            ))
        }
    }
}

/// The bucket of the client that sent `req` (see
/// [`crate::limits::client_key`]), from its peer and every
/// `X-Forwarded-For` line, in order: a proxy may add its own line rather
/// than append to the client's.
pub(crate) fn client_key(limits: &crate::RateLimits, req: &actix_web::HttpRequest) -> String {
    let lines: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    let forwarded = (!lines.is_empty()).then(|| lines.join(","));
    limits.client_key(req.peer_addr().map(|a| a.ip()), forwarded.as_deref())
}

/// Refuses a request before any work: the per-client limit on the
/// authentication routes, then the maintenance switch.
pub(crate) async fn guards(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<crate::AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // The path as the router sees it (percent-decoded), so `/v1/%61uth/…`
    // cannot route to the auth handlers while escaping their limits.
    let path = req.match_info().as_str().to_owned();
    let limited = if path.starts_with("/v1/auth/") {
        state
            .limits
            .check_client(&client_key(&state.limits, req.request()))
            .await
            .err()
    } else {
        None
    };
    // The maintenance switch, checked after the auth limit (cheap, cached),
    // then the query's text, which no handler or database could use.
    let refused = match limited {
        Some(err) => Some(err),
        None => maintenance_refusal(state.maintenance.current().await, req.method(), &path)
            .or_else(|| crate::extract::query_problem(req.query_string())),
    };
    match refused {
        Some(err) => {
            // Built from its parts: `ServiceRequest::into_response` would
            // drop the error that `problems` renders with the request id.
            let (http_req, _) = req.into_parts();
            Ok(ServiceResponse::new(
                http_req,
                actix_web::HttpResponse::from_error(err),
            ))
        }
        // Handlers and extractors render their errors into responses; only a
        // failing inner middleware returns `Err`, and ours (CORS) does not.
        // actix renders such an error itself.
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_inbound;

    #[actix_web::test]
    #[allow(clippy::panic)]
    async fn a_panicking_handler_answers_500_and_the_service_goes_on() {
        use actix_web::middleware::from_fn;
        use actix_web::{App, HttpResponse, test, web};

        let app = test::init_service(
            App::new()
                .route(
                    "/boom",
                    web::get()
                        .to(|| async {
                            if std::hint::black_box(true) {
                                panic!("boom");
                            }
                            HttpResponse::Ok().finish()
                        })
                        .wrap(from_fn(super::contain_panics)),
                )
                .route(
                    "/fine/{x}",
                    web::get()
                        .to(|x: web::Path<String>| async move {
                            HttpResponse::Ok().body(x.into_inner())
                        })
                        .wrap(from_fn(super::contain_panics)),
                )
                .wrap(from_fn(super::problems))
                .wrap(from_fn(super::root_span)),
        )
        .await;
        super::quiet_contained_panics();
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/boom").to_request()).await;
        assert_eq!(
            res.status(),
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["code"], "internal_error");
        assert!(body["request_id"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(
            !body.to_string().contains("boom"),
            "the panic's message stays in the log"
        );
        for _ in 0..3 {
            let res =
                test::call_service(&app, test::TestRequest::get().uri("/fine/ok").to_request())
                    .await;
            assert_eq!(res.status(), actix_web::http::StatusCode::OK);
            assert_eq!(test::read_body(res).await, "ok");
        }
    }

    #[test]
    fn only_plain_inbound_request_ids_are_kept() {
        assert!(valid_inbound("abc-123_X.y"));
        for bad in ["", "a b", "x\r\ninjected: 1", "<script>", &"a".repeat(129)] {
            assert!(!valid_inbound(bad), "{bad:?}");
        }
    }
}
