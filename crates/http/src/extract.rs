//! Extractors: the authenticated principal, JSON bodies with precise
//! errors, typed ids from paths, and `If-Match`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt as _;
use kg_application::{Actor, AppError, RequestContext};
use kg_domain::Version;
use serde::de::DeserializeOwned;

use crate::json_shape;
use crate::middleware::RequestId;
use crate::{ApiError, AppState, HttpSettings, ProblemCode};

/// The authenticated caller and the request id, for use cases.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub RequestContext);

/// The user id recorded for the request log once authentication succeeds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthenticatedUser(pub kg_domain::UserId);

/// The credential a request presents: `Authorization: Bearer …` (an access
/// token or an API key) or `X-API-Key: …`. Never read from the query string,
/// where it would end up in logs and browser history.
fn credential(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    let key = req.headers().get("x-api-key")?.to_str().ok()?;
    Some(key.trim().to_owned())
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| {
                ApiError::from(AppError::Internal("application state missing".into()))
            })?;
            let from_header = credential(&req);
            let from_cookie = || {
                state
                    .settings
                    .cookie_auth
                    .then(|| {
                        req.cookie(crate::cookies::ACCESS)
                            .map(|c| c.value().to_owned())
                    })
                    .flatten()
            };
            let (token, by_cookie) = match from_header {
                Some(token) => (token, false),
                None => (from_cookie().ok_or(AppError::Unauthenticated)?, true),
            };
            // A client that failed to authenticate too often is refused
            // before its credential costs a lookup; a lookup that does not
            // end in a principal counts as a failure, also when actix drops
            // it unfinished (another extractor failed, the client left).
            let mut lookup = Lookup::start(&state.limits, &req)?;
            let actor: Actor = match state.auth.authenticate(&token).await {
                Ok(actor) => {
                    lookup.succeeded();
                    actor
                }
                Err(e) => {
                    let e = ApiError::from(e);
                    if actix_web::ResponseError::status_code(&e)
                        != actix_web::http::StatusCode::UNAUTHORIZED
                    {
                        lookup.succeeded();
                    }
                    return Err(e);
                }
            };
            if by_cookie && crate::cookies::is_unsafe(req.method()) {
                // Browsers attach cookies to cross-site requests; only a page
                // that could read our response knows the session's token.
                let valid = match (actor.session, crate::cookies::presented_csrf(&req)) {
                    (Some(session), Some(presented)) => {
                        state.auth.csrf_matches(session, &presented)
                    }
                    _ => false,
                };
                if !valid {
                    return Err(crate::cookies::csrf_refused());
                }
            }
            let principal = match actor.api_key {
                Some(key) => format!("key:{key}"),
                None => format!("user:{}", actor.user_id),
            };
            crate::middleware::record_principal(&principal);
            state.limits.check_principal(principal).await?;
            req.extensions_mut()
                .insert(AuthenticatedUser(actor.user_id));
            let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
            Ok(Self(RequestContext { actor, request_id }))
        })
    }
}

/// A credential's lookup, counted as a failed authentication of its
/// client unless it ends in a principal (or in an error that is not the
/// credential's fault). The client's key is worked out only when needed:
/// while some client is refused, and on a failure.
struct Lookup {
    limits: crate::RateLimits,
    req: Option<HttpRequest>,
}

impl Lookup {
    /// Refuses a client that failed too often; otherwise starts counting.
    fn start(limits: &crate::RateLimits, req: &HttpRequest) -> Result<Self, ApiError> {
        limits.check_unauthenticated(|| crate::middleware::client_key(limits, req))?;
        Ok(Self {
            limits: limits.clone(),
            req: Some(req.clone()),
        })
    }

    fn succeeded(&mut self) {
        self.req = None;
    }
}

impl Drop for Lookup {
    fn drop(&mut self) {
        if let Some(req) = &self.req {
            let client = crate::middleware::client_key(&self.limits, req);
            self.limits.failed_authentication(&client);
        }
    }
}

/// A request body, read but not yet parsed. Parsing waits until the
/// handler has checked authorization: actix runs a handler's extractors
/// together, and a body error must never answer before a 401 or 403 (nor
/// tell an unauthorized caller what a valid body looks like).
///
/// [`parse`](Self::parse) then applies the rules: `Content-Type` must be
/// JSON (415), the size is capped (413), and so is the memory its parsed
/// form would take, before it is built (413, see [`crate::json_shape`]);
/// syntax errors are 400, and shape errors (wrong type, unknown, missing or
/// duplicate field, an array too long, not an object) are 422 naming the
/// field's path.
#[derive(Debug)]
pub(crate) struct JsonBody {
    body: Result<web::Bytes, ApiError>,
    /// The route's byte limit.
    limit: usize,
}

/// The one route whose bodies may be larger than the general limit.
const BATCH_ROUTE: &str = "/v1/batch";

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let batch = req.match_pattern().as_deref() == Some(BATCH_ROUTE);
        let limit = req.app_data::<web::Data<HttpSettings>>().map_or_else(
            || HttpSettings::default().max_body_bytes,
            |s| {
                if batch {
                    s.max_batch_body_bytes
                } else {
                    s.max_body_bytes
                }
            },
        );
        let json = is_json(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_body(&mut payload, json, declared, limit).await;
            Ok(Self { body, limit })
        })
    }
}

/// The body's bytes, within `limit`: the declared length is refused before
/// anything is read, and reserved when it is within the limit, so the
/// buffer is not grown (and copied) by doubling.
async fn read_body(
    payload: &mut Payload,
    json: bool,
    declared: Option<usize>,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    if !json {
        return Err(ApiError::new(
            ProblemCode::UnsupportedMediaType,
            "Send the body as JSON with 'Content-Type: application/json'.",
        ));
    }
    let too_large = || {
        ApiError::new(
            ProblemCode::PayloadTooLarge,
            format!("The body must be at most {limit} bytes."),
        )
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or_default());
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ProblemCode::MalformedJson,
                format!("The body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

impl JsonBody {
    /// The raw bytes, when the body was read (for fingerprinting).
    pub(crate) fn raw(&self) -> Option<web::Bytes> {
        self.body.as_ref().ok().cloned()
    }

    /// Parses the body as `T`.
    pub(crate) fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        let body = self.body?;
        // Every body is an object; serde would otherwise accept a struct as an array.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                    Ok(_) => ApiError::field("body", "must be a JSON object"),
                    Err(e) => ApiError::new(
                        ProblemCode::MalformedJson,
                        format!("The body is not valid JSON: {e}"),
                    ),
                },
            );
        }
        let budget = self
            .limit
            .saturating_mul(json_shape::PARSED_BYTES_PER_BODY_BYTE);
        json_shape::check(&body, budget).map_err(|refusal| {
            // A refusal stops reading where it is found; a body that is
            // not valid JSON further on is malformed first of all. Reading
            // on to find out builds nothing.
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                return body_error(".", e);
            }
            refusal_error(refusal)
        })?;
        let mut de = serde_json::Deserializer::from_slice(&body);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(value) => de.end().map(|()| value).map_err(|e| body_error(".", e)),
            Err(err) => Err(body_error(&err.path().to_string(), err.into_inner())),
        }
    }
}

/// The problem a body refused by its shape answers.
fn refusal_error(refusal: json_shape::Refusal) -> ApiError {
    match refusal {
        json_shape::Refusal::TooCostly { budget } => ApiError::new(
            ProblemCode::PayloadTooLarge,
            format!(
                "The body would take more than {budget} bytes of memory once parsed: \
                     send fewer or smaller values."
            ),
        ),
        json_shape::Refusal::Json { path, error } => body_error(&path, error),
    }
}

/// The problem a body that does not deserialize at `path` answers.
fn body_error(path: &str, inner: serde_json::Error) -> ApiError {
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = strip_position(&inner.to_string());
            // serde reports these at the enclosing object: name the member instead.
            let named = [
                ("missing field `", "is required"),
                ("duplicate field `", "must appear only once"),
            ]
            .into_iter()
            .find_map(|(prefix, says)| {
                let rest = message.strip_prefix(prefix)?;
                // The member's name may itself hold a backtick.
                Some((rest.strip_suffix('`').unwrap_or(rest), says))
            });
            match (named, path) {
                (Some((field, says)), ".") => ApiError::field(field, says),
                (Some((field, says)), parent) => {
                    ApiError::field(&format!("{parent}.{field}"), says)
                }
                (None, ".") => ApiError::field("body", message),
                (None, _) => ApiError::field(path, message),
            }
        }
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => ApiError::new(
            ProblemCode::MalformedJson,
            format!("The body is not valid JSON: {inner}"),
        ),
    }
}

/// The problem of a query string that names or carries a parameter that is
/// not valid UTF-8 text, or that holds a NUL: 422 naming the parameter.
/// Decoding would otherwise replace the bytes silently, and PostgreSQL
/// refuses NUL in text, so the request could never succeed.
pub(crate) fn query_problem(query: &str) -> Option<ApiError> {
    // The raw query is already UTF-8 without NUL: only an escape can
    // decode to bytes that are not.
    if !query.contains('%') {
        return None;
    }
    let is_text = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .is_ok_and(|text| !text.contains('\0'))
    };
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (!is_text(name) || !is_text(value)).then(|| {
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
            let field = String::from_utf8_lossy(&bytes).replace('+', " ");
            ApiError::field(&field, "must be UTF-8 text without NUL characters")
        })
    })
}

/// serde appends " at line 1 column 42"; the field path already says where.
fn strip_position(message: &str) -> String {
    message
        .rsplit_once(" at line ")
        .map_or(message, |(m, _)| m)
        .to_owned()
}

/// Parses a path segment as a typed id, or 422 naming `field`.
pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str, field: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field(field, "must be a UUID"))
}

/// The version an `If-Match: "N"` header names. Absent: `None`. Anything
/// else, including weak tags (If-Match compares strongly), never matches.
pub(crate) fn if_match(req: &HttpRequest) -> Result<Option<Version>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let stale = || ApiError::from(AppError::VersionMismatch);
    let text = value.to_str().map_err(|_| stale())?.trim();
    let number = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(stale)?;
    number
        .parse::<i64>()
        .ok()
        .and_then(Version::from_stored)
        .map(Some)
        .ok_or_else(stale)
}

/// The strong ETag of a version.
pub(crate) fn etag(version: Version) -> String {
    format!("\"{}\"", version.get())
}

/// Whether an `If-None-Match` value names `etag`: `*` alone, or a list of
/// entity tags one of which matches, compared weakly (RFC 9110 §13.1.2:
/// `W/"3"` matches `"3"`). Empty list elements are skipped (§5.6.1.2); a
/// malformed list matches nothing.
fn none_match_names(value: &str, etag: &str) -> bool {
    let mut rest = value.trim();
    if rest == "*" {
        return true;
    }
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return false;
        }
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(quoted) = tag.strip_prefix('"') else {
            return false;
        };
        let Some(end) = quoted.find('"') else {
            return false;
        };
        if etag.len() == end + 2 && etag[1..=end] == quoted[..end] {
            return true;
        }
        rest = quoted[end + 1..].trim_start();
        if !rest.is_empty() && !rest.starts_with(',') {
            return false;
        }
    }
}

/// Whether any `If-None-Match` line of `req` names `etag`.
pub(crate) fn none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .any(|list| none_match_names(list, etag))
}

/// The `304 Not Modified` a conditional GET gets when its `If-None-Match`
/// names the current ETag of what it asks for: no body, the same ETag.
pub(crate) fn not_modified(req: &HttpRequest, version: Version) -> Option<actix_web::HttpResponse> {
    let etag = etag(version);
    none_match(req, &etag).then(|| {
        actix_web::HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish()
    })
}

#[cfg(test)]
mod tests {
    use super::none_match_names;

    #[test]
    fn if_none_match_compares_entity_tags_weakly_and_reads_lists() {
        for (list, matches) in [
            ("\"3\"", true),
            ("W/\"3\"", true),
            ("\"1\", \"3\"", true),
            ("\"1\",W/\"3\"", true),
            ("*", true),
            (" * ", true),
            ("\"4\"", false),
            ("\"33\"", false),
            ("\"\"", false),
            ("3", false),
            ("\"3", false),
            ("\"1\" \"3\"", false),
            ("", false),
            ("*x", false),
            ("\"1\", , \"3\"", true),
            (", \"3\",", true),
            ("\"1\", *", false),
        ] {
            assert_eq!(none_match_names(list, "\"3\""), matches, "{list}");
        }
    }
}
