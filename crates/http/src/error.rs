//! RFC 9457 problem details: the one shape of every error response.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use kg_application::{AppError, Conflict, ResourceKind, RestoreBlocker};
use kg_domain::Violations;
use serde::Serialize;

/// Declares [`ProblemCode`] from one table: each row is a variant with its
/// documentation, its stable snake_case code, its HTTP status and its title.
/// The enum, [`ProblemCode::ALL`] and [`ProblemCode::describe`] all come from
/// the table, so a code cannot be added to one and forgotten in another.
macro_rules! problem_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident => ($code:literal, $status:ident, $title:literal),)+) => {
        /// Every problem `code` the API can answer. Stable: clients branch on these.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ProblemCode {
            /// Every code, for documentation and uniqueness tests.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The snake_case code and the HTTP status and title that go with it.
            #[must_use]
            pub const fn describe(self) -> (&'static str, StatusCode, &'static str) {
                match self {
                    $(Self::$variant => ($code, StatusCode::$status, $title),)+
                }
            }
        }
    };
}

problem_codes! {
    /// 400: the body is not well-formed JSON.
    MalformedJson => ("malformed_json", BAD_REQUEST, "Malformed JSON"),
    /// 400: any other malformed request, such as a refused CORS preflight.
    BadRequest => ("bad_request", BAD_REQUEST, "Bad request"),
    /// 401: no valid credentials.
    Unauthenticated => ("unauthenticated", UNAUTHORIZED, "Authentication required"),
    /// 401: login failed.
    InvalidCredentials => ("invalid_credentials", UNAUTHORIZED, "Invalid credentials"),
    /// 401: the refresh token is unknown, spent or revoked.
    InvalidRefreshToken => ("invalid_refresh_token", UNAUTHORIZED, "Invalid refresh token"),
    /// 401: the session is past its idle or absolute limit.
    SessionExpired => ("session_expired", UNAUTHORIZED, "Session expired"),
    /// 403: not allowed for this principal.
    Forbidden => ("forbidden", FORBIDDEN, "Forbidden"),
    /// 403: a cookie-authenticated unsafe request without the right `X-CSRF-Token`.
    CsrfTokenInvalid => ("csrf_token_invalid", FORBIDDEN, "CSRF token missing or invalid"),
    /// 404: no such route.
    RouteNotFound => ("route_not_found", NOT_FOUND, "No such route"),
    /// 404: no such entity.
    EntityNotFound => ("entity_not_found", NOT_FOUND, "Entity not found"),
    /// 404: no such relationship.
    RelationshipNotFound => ("relationship_not_found", NOT_FOUND, "Relationship not found"),
    /// 404: no evidence record has the id (or, retracting, no live one).
    EvidenceNotFound => ("evidence_not_found", NOT_FOUND, "Evidence not found"),
    /// 404: no such user.
    UserNotFound => ("user_not_found", NOT_FOUND, "User not found"),
    /// 404: no such API key (or it is already revoked).
    ApiKeyNotFound => ("api_key_not_found", NOT_FOUND, "API key not found"),
    /// 405: the route exists, the method does not.
    MethodNotAllowed => ("method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed"),
    /// 409: another live entity has the `external_id`.
    ExternalIdTaken => ("external_id_taken", CONFLICT, "External id already in use"),
    /// 409: the same live relationship exists.
    DuplicateRelationship => ("duplicate_relationship", CONFLICT, "Relationship already exists"),
    /// 409: the email is registered.
    EmailTaken => ("email_taken", CONFLICT, "Email already registered"),
    /// 409: the change would leave no active admin.
    LastActiveAdmin => ("last_active_admin", CONFLICT, "Last active admin"),
    /// 409: admins cannot demote or deactivate themselves.
    CannotModifySelf => ("cannot_modify_self", CONFLICT, "Cannot modify own account"),
    /// 409: only a deleted resource can be restored.
    NotDeleted => ("not_deleted", CONFLICT, "Not deleted"),
    /// 409: only retracted evidence can be restored.
    NotRetracted => ("not_retracted", CONFLICT, "Not retracted"),
    /// 409: the evidence's fact is deleted.
    FactNotLive => ("fact_not_live", CONFLICT, "Fact is deleted"),
    /// 409: stated evidence changes with its fact, not on its own.
    EvidenceStated => ("evidence_stated", CONFLICT, "Evidence is the fact's own"),
    /// 409: a restore would break a rule; `errors` names each conflict.
    RestoreConflict => ("restore_conflict", CONFLICT, "Restore would conflict"),
    /// 409: the first request with this `Idempotency-Key` is still running.
    IdempotencyKeyInFlight => ("idempotency_key_in_flight", CONFLICT, "Request in flight"),
    /// 422: the `Idempotency-Key` was used for a different request.
    IdempotencyKeyReused => ("idempotency_key_reused", UNPROCESSABLE_ENTITY, "Idempotency key reused"),
    /// 412: the `If-Match` version is not current.
    PreconditionFailed => ("precondition_failed", PRECONDITION_FAILED, "Precondition failed"),
    /// 413: the body is too large.
    PayloadTooLarge => ("payload_too_large", PAYLOAD_TOO_LARGE, "Payload too large"),
    /// 415: the body is not JSON.
    UnsupportedMediaType => ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
    /// 422: one or more fields or parameters are invalid.
    ValidationFailed => ("validation_failed", UNPROCESSABLE_ENTITY, "Validation failed"),
    /// 422: a relationship end is not a live entity.
    RelationshipEndpointNotLive => ("relationship_endpoint_not_live", UNPROCESSABLE_ENTITY, "Relationship end is not a live entity"),
    /// 428: a conditional header is required.
    PreconditionRequired => ("precondition_required", PRECONDITION_REQUIRED, "Precondition required"),
    /// 429: too many failed logins for this email.
    LoginThrottled => ("login_throttled", TOO_MANY_REQUESTS, "Too many failed logins"),
    /// 429: too many requests from this client or principal.
    RateLimited => ("rate_limited", TOO_MANY_REQUESTS, "Too many requests"),
    /// 500: a bug or unexpected failure.
    InternalError => ("internal_error", INTERNAL_SERVER_ERROR, "Internal server error"),
    /// 503: a dependency is unavailable; retry later.
    ServiceUnavailable => ("service_unavailable", SERVICE_UNAVAILABLE, "Service unavailable"),
    /// 503: the database is unreachable or overloaded; retry later.
    DatabaseUnavailable => ("database_unavailable", SERVICE_UNAVAILABLE, "Database unavailable"),
    /// 503: a readiness check fails.
    NotReady => ("not_ready", SERVICE_UNAVAILABLE, "Not ready"),
    /// 503: the service is read-only for now; writes are refused.
    ReadOnly => ("read_only", SERVICE_UNAVAILABLE, "Read-only"),
    /// 503: the service is down for maintenance.
    Maintenance => ("maintenance", SERVICE_UNAVAILABLE, "Down for maintenance"),
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    code: ProblemCode,
    detail: String,
    errors: Vec<FieldError>,
    /// Headers only some problems carry; boxed to keep `ApiError` small.
    extra: Option<Box<ExtraHeaders>>,
    /// The cause of a 5xx, logged once at the boundary and never sent.
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug, Default)]
struct ExtraHeaders {
    allow: Option<String>,
    retry_after: Option<u64>,
    headers: Vec<(&'static str, String)>,
}

/// One field's problem: where it is and what is wrong with it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct FieldError {
    /// The field's path, such as `metadata` or `entities[3].name`.
    field: String,
    message: String,
}

/// An RFC 9457 problem: the one body every error response carries, as
/// `application/problem+json`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    /// `urn:kg:problem:<code>`.
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    /// The HTTP status, repeated.
    status: u16,
    /// What went wrong, for a person to read.
    detail: &'a str,
    /// The stable, machine-readable code.
    code: &'static str,
    /// The request's id, as in the `X-Request-Id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    /// Each field's problem, on 422 `validation_failed`.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    #[schema(value_type = Vec<FieldError>, required = false)]
    errors: &'a [FieldError],
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.describe().0, self.detail)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl ApiError {
    /// A problem with a code and a client-facing detail.
    #[must_use]
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
            cause: None,
        }
    }

    /// The problem's code.
    #[must_use]
    pub const fn code(&self) -> ProblemCode {
        self.code
    }

    /// 422 listing each field's problem.
    #[must_use]
    pub fn validation(violations: &Violations) -> Self {
        let mut err = Self::new(
            ProblemCode::ValidationFailed,
            "One or more fields are invalid.",
        );
        err.errors = violations
            .as_slice()
            .iter()
            .map(|v| FieldError {
                field: v.field.clone(),
                message: v.message.clone(),
            })
            .collect();
        err
    }

    /// 422 for one field.
    #[must_use]
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut v = Violations::new();
        v.push(field, message);
        Self::validation(&v)
    }

    fn extra(&mut self) -> &mut ExtraHeaders {
        self.extra.get_or_insert_with(Box::default)
    }

    pub(crate) fn set_retry_after(&mut self, seconds: u64) {
        self.extra().retry_after = Some(seconds);
    }

    pub(crate) fn add_header(&mut self, name: &'static str, value: String) {
        self.extra().headers.push((name, value));
    }

    /// 405 with the methods the route allows.
    #[must_use]
    pub fn method_not_allowed(allow: &str) -> Self {
        let mut err = Self::new(
            ProblemCode::MethodNotAllowed,
            format!("This route allows {allow}."),
        );
        err.extra().allow = Some(allow.to_owned());
        err
    }

    pub(crate) fn invalid_path(err: &actix_web::error::PathError) -> Self {
        Self::new(
            ProblemCode::ValidationFailed,
            format!("Invalid path parameter: {err}"),
        )
    }

    pub(crate) fn invalid_query(err: &actix_web::error::QueryPayloadError) -> Self {
        let message = match err {
            actix_web::error::QueryPayloadError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        let (field, message) = split_query_error(&message);
        Self::field(&field, message)
    }

    fn internal(code: ProblemCode, cause: Box<dyn std::error::Error + Send + Sync>) -> Self {
        let detail = match code {
            ProblemCode::ServiceUnavailable | ProblemCode::DatabaseUnavailable => {
                "The service is temporarily unavailable; retry shortly."
            }
            _ => "An internal error occurred; quote the request_id when reporting it.",
        };
        let mut err = Self::new(code, detail);
        err.cause = Some(cause);
        err
    }

    /// Renders the problem, carrying `request_id` when known.
    #[must_use]
    pub fn render(&self, request_id: Option<&str>) -> HttpResponse {
        let (code, status, title) = self.code.describe();
        let body = Problem {
            kind: format!("urn:kg:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: &self.detail,
            code,
            request_id,
            errors: &self.errors,
        };
        let mut res = HttpResponse::build(status);
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kg\""),
            ));
        }
        let extra = self.extra.as_deref();
        for (name, value) in extra.map(|e| e.headers.as_slice()).unwrap_or_default() {
            if let Ok(value) = HeaderValue::from_str(value) {
                res.insert_header((*name, value));
            }
        }
        match (extra.and_then(|e| e.retry_after), status) {
            (Some(seconds), _) => {
                res.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            (None, StatusCode::SERVICE_UNAVAILABLE) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("2")));
            }
            (None, _) => {}
        }
        if let Some(allow) = extra
            .and_then(|e| e.allow.as_deref())
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            res.insert_header((header::ALLOW, allow));
        }
        match serde_json::to_vec(&body) {
            Ok(bytes) => res.body(bytes),
            Err(_) => res.finish(),
        }
    }
}

/// serde's query messages read "limit: invalid digit found in string" when
/// the field is known; keep the field apart for the `errors` list.
fn split_query_error(message: &str) -> (String, String) {
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        return (field.to_owned(), "is not a recognised parameter".to_owned());
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        return (field.to_owned(), "is required".to_owned());
    }
    match message.split_once(": ") {
        Some((field, rest)) if !field.contains(' ') => (field.to_owned(), rest.to_owned()),
        _ => ("query".to_owned(), message.to_owned()),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.describe().1
    }

    fn error_response(&self) -> HttpResponse {
        // The request-envelope middleware renders again with the request id.
        self.render(None)
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Validation(v) => Self::validation(&v),
            AppError::NotFound(ResourceKind::Entity) => {
                Self::new(ProblemCode::EntityNotFound, "No live entity has this id.")
            }
            AppError::NotFound(ResourceKind::Relationship) => Self::new(
                ProblemCode::RelationshipNotFound,
                "No live relationship has this id.",
            ),
            AppError::NotFound(ResourceKind::ApiKey) => Self::new(
                ProblemCode::ApiKeyNotFound,
                "No unrevoked API key has this id.",
            ),
            AppError::NotFound(ResourceKind::Evidence) => {
                Self::new(ProblemCode::EvidenceNotFound, "No such evidence record.")
            }
            AppError::NotFound(ResourceKind::User) => {
                Self::new(ProblemCode::UserNotFound, "No user has this id.")
            }
            AppError::Conflict(c) => conflict(c),
            AppError::RestoreBlocked(blockers) => restore_conflict(&blockers),
            AppError::VersionMismatch => Self::new(
                ProblemCode::PreconditionFailed,
                "The resource has changed since the ETag in If-Match; GET it again and retry.",
            ),
            AppError::IdempotencyKeyReused => Self::new(
                ProblemCode::IdempotencyKeyReused,
                "This Idempotency-Key was used for a different request; use a new key.",
            ),
            AppError::IdempotencyInFlight => {
                let mut err = Self::new(
                    ProblemCode::IdempotencyKeyInFlight,
                    "A request with this Idempotency-Key is still being processed; retry shortly.",
                );
                err.set_retry_after(1);
                err
            }
            AppError::PreconditionRequired => Self::new(
                ProblemCode::PreconditionRequired,
                "Send If-Match with the ETag from a GET of this resource.",
            ),
            AppError::Unauthenticated => Self::new(
                ProblemCode::Unauthenticated,
                "Send a valid access token as 'Authorization: Bearer …'.",
            ),
            AppError::InvalidCredentials => Self::new(
                ProblemCode::InvalidCredentials,
                "The email or password is incorrect.",
            ),
            AppError::InvalidRefreshToken => Self::new(
                ProblemCode::InvalidRefreshToken,
                "The refresh token is not valid; log in again.",
            ),
            AppError::SessionExpired => Self::new(
                ProblemCode::SessionExpired,
                "The session has expired; log in again.",
            ),
            AppError::Throttled { retry_after_secs } => {
                let mut err = Self::new(
                    ProblemCode::LoginThrottled,
                    "Too many failed logins for this email; wait for the Retry-After delay.",
                );
                err.set_retry_after(retry_after_secs);
                err
            }
            AppError::Forbidden => {
                Self::new(ProblemCode::Forbidden, "Your role does not allow this.")
            }
            AppError::Unavailable(cause) => Self::internal(ProblemCode::ServiceUnavailable, cause),
            AppError::DatabaseUnavailable(cause) => {
                Self::internal(ProblemCode::DatabaseUnavailable, cause)
            }
            AppError::Internal(cause) => Self::internal(ProblemCode::InternalError, cause),
        }
    }
}

/// 409 naming, in `errors`, each thing that now stands in the way.
fn restore_conflict(blockers: &[RestoreBlocker]) -> ApiError {
    let mut err = ApiError::new(
        ProblemCode::RestoreConflict,
        "The entity cannot be restored as it was; each conflict is listed in errors.",
    );
    err.errors = blockers
        .iter()
        .map(|b| match b {
            RestoreBlocker::ExternalIdTaken { held_by, .. } => FieldError {
                field: "external_id".to_owned(),
                message: format!("is now held by the live entity {held_by}"),
            },
            RestoreBlocker::OtherEndDeleted {
                relationship,
                entity,
            } => FieldError {
                field: format!("relationships/{relationship}"),
                message: format!("its other end, entity {entity}, is deleted"),
            },
        })
        .collect();
    err
}

fn conflict(c: Conflict) -> ApiError {
    match c {
        Conflict::ExternalIdTaken => ApiError::new(ProblemCode::ExternalIdTaken, c.to_string()),
        Conflict::DuplicateRelationship => {
            ApiError::new(ProblemCode::DuplicateRelationship, c.to_string())
        }
        Conflict::EmailTaken => ApiError::new(ProblemCode::EmailTaken, c.to_string()),
        Conflict::LastActiveAdmin => ApiError::new(ProblemCode::LastActiveAdmin, c.to_string()),
        Conflict::CannotModifySelf => ApiError::new(ProblemCode::CannotModifySelf, c.to_string()),
        Conflict::NotDeleted => ApiError::new(ProblemCode::NotDeleted, c.to_string()),
        Conflict::NotRetracted => ApiError::new(ProblemCode::NotRetracted, c.to_string()),
        Conflict::FactNotLive => ApiError::new(ProblemCode::FactNotLive, c.to_string()),
        Conflict::EvidenceStated => ApiError::new(ProblemCode::EvidenceStated, c.to_string()),
        Conflict::SourceNotLive | Conflict::TargetNotLive => {
            let field = if c == Conflict::SourceNotLive {
                "source_id"
            } else {
                "target_id"
            };
            let mut err = ApiError::new(ProblemCode::RelationshipEndpointNotLive, c.to_string());
            err.errors.push(FieldError {
                field: field.to_owned(),
                message: "is not a live entity".to_owned(),
            });
            err
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn problem_codes_are_unique_snake_case_and_match_their_status_class() {
        let mut seen = HashSet::new();
        for code in ProblemCode::ALL {
            let (name, status, title) = code.describe();
            assert!(seen.insert(name), "duplicate code {name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{name}"
            );
            assert!(!title.is_empty());
        }
    }

    #[test]
    fn a_5xx_body_never_carries_its_cause() {
        let cause: Box<dyn std::error::Error + Send + Sync> =
            "SELECT * FROM users failed: relation missing".into();
        let err = ApiError::from(AppError::Internal(cause));
        let res = err.render(Some("r1"));
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.detail.contains("SELECT"));
        assert!(
            std::error::Error::source(&err).is_some(),
            "the cause is kept for the log"
        );
    }

    #[test]
    fn query_messages_name_their_field() {
        assert_eq!(
            split_query_error("limit: invalid digit found in string"),
            ("limit".into(), "invalid digit found in string".into())
        );
        assert_eq!(
            split_query_error("unknown field `foo`, expected one of `a`"),
            ("foo".into(), "is not a recognised parameter".into())
        );
    }
}
