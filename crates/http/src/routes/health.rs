//! Liveness.

use actix_web::HttpResponse;

/// The process is up and serving.
pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
