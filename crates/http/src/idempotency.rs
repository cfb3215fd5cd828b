//! `Idempotency-Key` on creates: claim the key, replay a stored response,
//! release the key when the request fails.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use kg_application::{
    AppError, IdempotencyKey, Idempotent, IdempotentRequest, Keyed, RequestContext, Respond,
    StoredResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
        &[req.method().as_str().as_bytes(), path.as_bytes(), body],
    )))
}

/// A keyed create's answer, as this edge stores it for replay: the status,
/// the `Location` and `ETag` headers and the JSON body. Encoded as
/// `{"status", "location", "etag", "body"}`, the shape migration 15 gave
/// the responses stored before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) etag: Option<String>,
    pub(crate) body: Value,
}

impl Answer {
    /// The answer, as the application stores it.
    fn stored(&self) -> StoredResponse {
        StoredResponse::new(json!(self))
    }

    fn send(self, replayed: bool) -> Result<HttpResponse, ApiError> {
        let status = StatusCode::from_u16(self.status)
            .map_err(|e| AppError::Internal(format!("a stored response's status: {e}").into()))?;
        let mut res = HttpResponse::build(status);
        if let Some(location) = self.location {
            res.insert_header(("Location", location));
        }
        if let Some(etag) = self.etag {
            res.insert_header(("ETag", etag));
        }
        if replayed {
            res.insert_header(("Idempotent-Replayed", "true"));
        }
        Ok(res.json(self.body))
    }
}

/// A stored response, sent again and marked `Idempotent-Replayed`.
fn replay(stored: StoredResponse) -> Result<HttpResponse, ApiError> {
    serde_json::from_value::<Answer>(stored.into_value())
        .map_err(|e| AppError::Internal(format!("a stored response cannot be read: {e}").into()))?
        .send(true)
}

/// Runs a create under the key, if any, by the application's protocol
/// ([`kg_application::IdempotencyService::run`]) and answers it: `create`
/// gets what the use case needs to store `answer` with its effect, and a
/// request answered before gets its stored answer again instead, marked
/// `Idempotent-Replayed`.
pub(crate) async fn create<T>(
    state: &AppState,
    keyed: Option<IdempotentRequest>,
    answer: impl Fn(&T) -> Answer + Sync,
    create: impl AsyncFnOnce(Keyed<'_, T>) -> Result<T, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let stored = |made: &T| answer(made).stored();
    let request = keyed.as_ref();
    let outcome = state
        .idempotency
        .run(request, || async {
            let keyed = request.map(|k| (k, &stored as Respond<'_, T>));
            let made = create(keyed).await?;
            answer(&made).send(false)
        })
        .await?;
    match outcome {
        Idempotent::Fresh(response) => Ok(response),
        Idempotent::Replayed(stored) => replay(stored),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody as _;

    use super::*;

    #[test]
    fn an_answer_is_replayed_as_it_was_stored_in_the_shape_migration_15_wrote()
    -> Result<(), Box<dyn std::error::Error>> {
        let answer = Answer {
            status: 201,
            location: Some("/v1/entities/x".into()),
            etag: Some("\"1\"".into()),
            body: json!({"name": "Ada"}),
        };
        let stored = answer.stored();
        assert_eq!(
            stored.as_value(),
            &json!({"status": 201, "location": "/v1/entities/x", "etag": "\"1\"", "body": {"name": "Ada"}})
        );
        let res = replay(stored).map_err(|e| e.to_string())?;
        assert_eq!(res.status(), StatusCode::CREATED);
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("location"), Some("/v1/entities/x"));
        assert_eq!(header("etag"), Some("\"1\""));
        assert_eq!(header("idempotent-replayed"), Some("true"));
        let body = res
            .into_body()
            .try_into_bytes()
            .map_err(|_| "streamed body")?;
        assert_eq!(
            serde_json::from_slice::<Value>(&body)?,
            json!({"name": "Ada"})
        );
        Ok(())
    }

    #[test]
    fn a_stored_response_this_edge_cannot_read_is_an_internal_error() {
        for broken in [json!({"first": true}), json!({"status": 42, "body": {}})] {
            let err = replay(StoredResponse::new(broken)).err();
            assert_eq!(
                err.map(|e| e.code()),
                Some(crate::ProblemCode::InternalError)
            );
        }
    }
}
