//! Traversal: the neighborhood of an entity, breadth-first, within a budget.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kg_domain::{Confidence, Entity, EntityId, Relationship, TypeName};

use crate::{
    AppError, Direction, EntityRepository, RelationshipRepository, RequestContext, ResourceKind,
};

/// How far a traversal may go. Every field is already within its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighborQuery {
    /// Levels to expand, 1–3.
    pub depth: Depth,
    /// Which way relationships may be followed.
    pub direction: Direction,
    /// Only reach entities of this type.
    pub entity_type: Option<TypeName>,
    /// Only follow relationships of this type.
    pub relationship_type: Option<TypeName>,
    /// Only follow relationships with at least this confidence.
    pub min_confidence: Option<Confidence>,
    /// At most this many nodes, the start included: 1–1,000.
    pub max_nodes: NodeBudget,
}

/// A traversal depth: 1, 2 or 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth(u8);

impl Depth {
    /// One level: the direct neighbors.
    pub const ONE: Self = Self(1);

    /// # Errors
    /// A message unless `1 <= value <= 3`.
    pub fn new(value: i64) -> Result<Self, &'static str> {
        u8::try_from(value)
            .ok()
            .filter(|v| (1..=3).contains(v))
            .map(Self)
            .ok_or("must be 1, 2 or 3")
    }

    /// The depth.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A node budget: 1–1,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeBudget(u16);

impl NodeBudget {
    /// The largest budget, and the default.
    pub const MAX: Self = Self(1000);

    /// # Errors
    /// A message unless `1 <= value <= 1000`.
    pub fn new(value: i64) -> Result<Self, &'static str> {
        u16::try_from(value)
            .ok()
            .filter(|v| (1..=Self::MAX.0).contains(v))
            .map(Self)
            .ok_or("must be between 1 and 1000")
    }

    /// The budget.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// One step outwards from a set of entities, as the repository runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Which way to follow relationships from the frontier.
    pub direction: Direction,
    /// Only relationships of this type.
    pub relationship_type: Option<TypeName>,
    /// Only relationships with at least this confidence.
    pub min_confidence: Option<Confidence>,
    /// Only when the far end has this type.
    pub far_type: Option<TypeName>,
}

/// A live relationship followed from one node of a frontier, with its
/// (live) far end. The near end is the frontier node, which the traversal
/// already holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// Whether it was followed from its source (outgoing), not from its
    /// target: the frontier node it leaves from is then the source, and
    /// `far` the target.
    pub outgoing: bool,
    /// The relationship.
    pub relationship: Relationship,
    /// Its end away from the frontier node.
    pub far: Entity,
}

/// What a traversal found.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighborhood {
    /// The start first, then entities in the order they were reached.
    pub nodes: Vec<Entity>,
    /// The relationships followed between those nodes.
    pub edges: Vec<Relationship>,
    /// Whether the budget cut the traversal short.
    pub truncated: bool,
}

/// Rows a single level may read per node of budget: enough for the budget
/// to fill on a well-connected graph, while bounding the work of a level.
const ROWS_PER_NODE: u32 = 4;

/// How many relationships a level follows from each node of its frontier,
/// in each direction: an equal share of the level's rows, at least one, and
/// never more than the node budget (a node cannot bring more new nodes
/// than that). So a hub costs its share, not its degree, and a frontier of
/// a thousand nodes costs the level's rows, not the sum of their degrees.
fn share_per_node(budget: u16, level_rows: u32, frontier: usize) -> u32 {
    let nodes = u32::try_from(frontier).unwrap_or(u32::MAX).max(1);
    level_rows.div_ceil(nodes).clamp(1, u32::from(budget))
}

/// Reading the graph around an entity.
#[derive(Clone)]
pub struct GraphService {
    entities: Arc<dyn EntityRepository>,
    relationships: Arc<dyn RelationshipRepository>,
}

impl std::fmt::Debug for GraphService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphService").finish_non_exhaustive()
    }
}

impl GraphService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(
        entities: Arc<dyn EntityRepository>,
        relationships: Arc<dyn RelationshipRepository>,
    ) -> Self {
        Self {
            entities,
            relationships,
        }
    }

    /// Breadth-first from `start` to `query.depth` levels, one repository
    /// query per level, stopping at the node budget with `truncated`.
    ///
    /// Each level follows, from every node of its frontier and in each
    /// direction, at most its share of relationships (lowest ids first; see
    /// [`share_per_node`]), and at most `4 × max_nodes` in all (lowest ids
    /// first). A node that had more to follow sets `truncated`, as does the
    /// budget. Once the budget is full no further level is read: it could
    /// add no node, only relationships among the nodes already found.
    ///
    /// # Errors
    /// `NotFound` unless `start` is a live entity; `DatabaseUnavailable`; `Internal`.
    pub async fn neighbors(
        &self,
        _ctx: &RequestContext,
        start: EntityId,
        query: &NeighborQuery,
    ) -> Result<Neighborhood, AppError> {
        let origin = self
            .entities
            .get(start)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))?
            .ok_or(AppError::NotFound(ResourceKind::Entity))?;
        let budget = usize::from(query.max_nodes.get());
        let level_rows = u32::from(query.max_nodes.get()) * ROWS_PER_NODE;
        let step = Step {
            direction: query.direction,
            relationship_type: query.relationship_type.clone(),
            min_confidence: query.min_confidence,
            far_type: query.entity_type.clone(),
        };
        let mut included: HashSet<EntityId> = HashSet::from([origin.id]);
        let mut nodes = vec![origin];
        let mut edges = Vec::new();
        let mut seen_edges = HashSet::new();
        let mut frontier = vec![start];
        let mut truncated = false;
        for _ in 0..query.depth.get() {
            if frontier.is_empty() {
                break;
            }
            if nodes.len() >= budget {
                truncated = true;
                break;
            }
            let share = share_per_node(query.max_nodes.get(), level_rows, frontier.len());
            // One more than the share, to know whether a node had more.
            let mut hops = self
                .relationships
                .expand(&frontier, &step, share + 1)
                .await
                .map_err(|e| AppError::from_repo(e, ResourceKind::Relationship))?;
            hops.sort_by_key(|h| h.relationship.id.as_uuid());
            let mut taken: HashMap<(EntityId, bool), u32> = HashMap::new();
            let mut level_seen = HashSet::new();
            let mut followed = Vec::new();
            for hop in hops {
                let ends = &hop.relationship.data.ends;
                let near = if hop.outgoing {
                    ends.source()
                } else {
                    ends.target()
                };
                let count = taken.entry((near, hop.outgoing)).or_default();
                *count += 1;
                if *count > share {
                    truncated = true;
                } else if level_seen.insert(hop.relationship.id) {
                    followed.push(hop);
                }
            }
            if followed.len() > level_rows as usize {
                truncated = true;
                followed.truncate(level_rows as usize);
            }
            let mut next = Vec::new();
            for hop in followed {
                let far = hop.far;
                if !included.contains(&far.id) {
                    if nodes.len() >= budget {
                        truncated = true;
                    } else {
                        included.insert(far.id);
                        next.push(far.id);
                        nodes.push(far);
                    }
                }
                let r = hop.relationship;
                let inside = included.contains(&r.data.ends.source())
                    && included.contains(&r.data.ends.target());
                if inside && seen_edges.insert(r.id) {
                    edges.push(r);
                }
            }
            frontier = next;
        }
        Ok(Neighborhood {
            nodes,
            edges,
            truncated,
        })
    }
}
