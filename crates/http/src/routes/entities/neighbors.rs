//! `GET /v1/entities/{id}/neighbors`: the graph around an entity,
//! breadth-first to `depth` 1–3, within a node budget.

use actix_web::{HttpResponse, web};
use kg_application::{Depth, Direction, NeighborQuery, NodeBudget};
use kg_domain::{EntityId, TypeName, Violations};
use serde::{Deserialize, Serialize};

use super::EntityResponse;
use crate::extract::{Authenticated, parse_id};
use crate::routes::relationships::RelationshipResponse;
use crate::routes::{confidence, integer};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    depth: Option<String>,
    direction: Option<String>,
    #[serde(rename = "type")]
    entity_type: Option<String>,
    relationship_type: Option<String>,
    min_confidence: Option<String>,
    max_nodes: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct NeighborhoodResponse {
    nodes: Vec<EntityResponse>,
    edges: Vec<RelationshipResponse>,
    /// Whether any budget cut the traversal short.
    truncated: bool,
    /// The budgets that did, in this order: `nodes` (the node budget
    /// filled), `edges` (2 × `max_nodes` edges), `rows` (a level left a
    /// node's relationships unread: more than its share, or more than a
    /// filtered level examines), `time` (the traversal's time budget ran
    /// out). Empty when `truncated` is false.
    #[schema(value_type = Vec<String>)]
    truncated_by: Vec<&'static str>,
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}/neighbors",
    operation_id = "getEntityNeighbors",
    tag = "entities",
    params(("id" = String, Path, format = Uuid, description = "The entity's id."), ("depth" = Option<u8>, Query, minimum = 1, maximum = 3, description = "How many hops (1 when absent)."), ("direction" = Option<String>, Query, description = "`out`, `in` or `both` (the default)."), ("type" = Option<String>, Query, description = "Only reach entities of this type."), ("relationship_type" = Option<String>, Query, description = "Only follow relationships of this type."), ("min_confidence" = Option<f64>, Query, minimum = 0, maximum = 1, description = "Only follow relationships with at least this confidence."), ("max_nodes" = Option<u16>, Query, minimum = 1, maximum = 1000, description = "The node budget (1000 when absent).")),
    responses(
        (status = 200, description = "The neighbourhood, breadth-first. Each level follows, from each node and direction, at most its share of relationships (`ceil(4 × max_nodes / nodes in the level)`, at most `max_nodes`), lowest ids first. With filters, a level examines at most `16 × max_nodes` relationships, shared over its nodes, to find them. The answer holds at most `2 × max_nodes` edges, and a traversal stops when its time budget runs out. A full node budget ends the traversal. `truncated` when any budget cut the traversal short, and `truncated_by` names each.", body = NeighborhoodResponse),
        (status = 404, description = "`entity_not_found`: no live entity has this id.", content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn handle(
    state: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let id: EntityId = parse_id(&path, "id")?;
    let q = query.into_inner();
    let mut v = Violations::new();
    let depth = v.check_opt("depth", q.depth, |d| integer(d).and_then(Depth::new));
    let max_nodes = v.check_opt("max_nodes", q.max_nodes, |d| {
        integer(d).and_then(NodeBudget::new)
    });
    let direction = v.check_opt("direction", q.direction, |d: String| match d.as_str() {
        "out" => Ok(Direction::Outgoing),
        "in" => Ok(Direction::Incoming),
        "both" => Ok(Direction::Both),
        _ => Err("must be one of out, in, both"),
    });
    let entity_type = v.check_opt("type", q.entity_type, TypeName::parse);
    let relationship_type = v.check_opt("relationship_type", q.relationship_type, TypeName::parse);
    let min_confidence = v.check_opt("min_confidence", q.min_confidence, confidence);
    let (
        Some(depth),
        Some(max_nodes),
        Some(direction),
        Some(entity_type),
        Some(relationship_type),
        Some(min_confidence),
    ) = (
        depth,
        max_nodes,
        direction,
        entity_type,
        relationship_type,
        min_confidence,
    )
    else {
        return Err(ApiError::validation(&v));
    };
    let query = NeighborQuery {
        depth: depth.unwrap_or(Depth::ONE),
        direction: direction.unwrap_or_default(),
        entity_type,
        relationship_type,
        min_confidence,
        max_nodes: max_nodes.unwrap_or(NodeBudget::MAX),
    };
    let found = state.graph.neighbors(&ctx, id, &query).await?;
    let truncated_by: Vec<&'static str> = found.truncated_by.iter().map(|t| t.as_str()).collect();
    Ok(HttpResponse::Ok().json(NeighborhoodResponse {
        truncated: !truncated_by.is_empty(),
        truncated_by,
        nodes: found.nodes.into_iter().map(Into::into).collect(),
        edges: found.edges.into_iter().map(Into::into).collect(),
    }))
}
