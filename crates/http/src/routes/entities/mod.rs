//! `/v1/entities`.

pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod duplicates;
pub(crate) mod get;
pub(crate) mod history;
pub(crate) mod list;
pub(crate) mod neighbors;
pub(crate) mod relationships;
pub(crate) mod restore;
pub(crate) mod update;

use actix_web::HttpResponse;
use actix_web::http::header;
use kg_domain::Entity;

use crate::extract::etag;
/// An entity as the API shows it: the application's one document of it.
pub(crate) use kg_application::EntityDocument as EntityResponse;

/// A single entity with its ETag.
pub(crate) fn entity_response(
    mut res: actix_web::HttpResponseBuilder,
    entity: Entity,
) -> HttpResponse {
    res.insert_header((header::ETAG, etag(entity.lifecycle.version)))
        .json(EntityResponse::from(entity))
}
