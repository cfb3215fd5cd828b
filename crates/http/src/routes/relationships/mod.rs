//! `/v1/relationships`.

pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod get;
pub(crate) mod list;
pub(crate) mod update;

use actix_web::HttpResponse;
use actix_web::http::header;
use kg_domain::Relationship;

use crate::extract::etag;
/// A relationship as the API shows it: the application's one document of it.
pub(crate) use kg_application::RelationshipDocument as RelationshipResponse;

/// A single relationship with its ETag.
pub(crate) fn relationship_response(
    mut res: actix_web::HttpResponseBuilder,
    r: Relationship,
) -> HttpResponse {
    res.insert_header((header::ETAG, etag(r.lifecycle.version)))
        .json(RelationshipResponse::from(r))
}
