//! `Idempotency-Key` on creates: claim the key, replay a stored response,
//! release the key when the request fails.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use kg_application::{
    IdempotencyKey, Idempotent, IdempotentRequest, RequestContext, StoredResponse,
};

use crate::{ApiError, AppState};

const HEADER: &str = "idempotency-key";

/// The keyed request, when the client sent an `Idempotency-Key`.
pub(crate) fn keyed_request(
    req: &HttpRequest,
    ctx: &RequestContext,
    body: &[u8],
) -> Result<Option<IdempotentRequest>, ApiError> {
    let mut values = req.headers().get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::field("Idempotency-Key", "must be sent once"));
    }
    let key = value
        .to_str()
        .map_err(|_| "must be 1 to 255 visible ASCII characters")
        .and_then(IdempotencyKey::parse)
        .map_err(|m| ApiError::field("Idempotency-Key", m))?;
    let path = req.uri().path_and_query().map_or("", |p| p.as_str());
    Ok(Some(IdempotentRequest::new(
        ctx,
        key,
        req.method().as_str(),
        path,
        body,
    )))
}

/// A stored or fresh response, as sent.
pub(crate) fn respond(stored: StoredResponse, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    if let Some(location) = stored.location {
        res.insert_header(("Location", location));
    }
    if let Some(etag) = stored.etag {
        res.insert_header(("ETag", etag));
    }
    if replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    res.json(stored.body)
}

/// Runs `create` under the key, if any, by the application's protocol
/// ([`kg_application::IdempotencyService::run`]): a stored response is
/// replayed instead, marked `Idempotent-Replayed`.
pub(crate) async fn run<F, Fut>(
    state: &AppState,
    keyed: Option<IdempotentRequest>,
    create: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Option<IdempotentRequest>) -> Fut,
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let request = keyed.clone();
    match state
        .idempotency
        .run(request.as_ref(), || create(keyed))
        .await?
    {
        Idempotent::Fresh(response) => Ok(response),
        Idempotent::Replayed(stored) => Ok(respond(stored, true)),
    }
}
