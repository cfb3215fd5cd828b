//! Traversal: the neighborhood of an entity, breadth-first, within a budget.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

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

impl Step {
    /// Whether anything beyond liveness decides which relationships are
    /// followed: then a node's first relationships may not match, and a
    /// level must read past them, within its budget.
    #[must_use]
    pub const fn is_filtered(&self) -> bool {
        self.relationship_type.is_some() || self.min_confidence.is_some() || self.far_type.is_some()
    }
}

/// How much of each frontier node's relationships one level reads, in each
/// direction followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// The most hops per node: the first that match the step's filters,
    /// lowest relationship ids first.
    pub take: u32,
    /// The most live relationships read per node, lowest ids first, before
    /// the filters are applied: the work a node may cost. At least `take`.
    pub examine: u32,
}

/// What one level read.
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    /// The hops found, each once for every (frontier node, direction) that
    /// reached it, in no set order.
    pub hops: Vec<Hop>,
    /// Whether some frontier node, in some direction followed, has live
    /// relationships past the `examine` read while fewer than `take` of
    /// those read matched: relationships that were never looked at. Only a
    /// filtered step can leave any (a relationship's ends are live while it
    /// is: deletes cascade).
    pub unexamined: bool,
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

impl Hop {
    /// The frontier node it was followed from.
    #[must_use]
    pub fn near(&self) -> EntityId {
        let ends = &self.relationship.data.ends;
        if self.outgoing {
            ends.source()
        } else {
            ends.target()
        }
    }
}

/// What a traversal found.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighborhood {
    /// The start first, then entities in the order they were reached.
    pub nodes: Vec<Entity>,
    /// The relationships followed between those nodes.
    pub edges: Vec<Relationship>,
    /// The budgets that cut the traversal short, if any.
    pub truncated_by: BTreeSet<Truncation>,
}

impl Neighborhood {
    /// Whether any budget cut the traversal short.
    #[must_use]
    pub fn truncated(&self) -> bool {
        !self.truncated_by.is_empty()
    }
}

/// A budget that cut a traversal short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Truncation {
    /// The node budget filled while there was more to reach.
    Nodes,
    /// The edge budget ([`EDGES_PER_NODE`] × the node budget) filled.
    Edges,
    /// A level's row budget left relationships unread: a node had more than
    /// its share, or (with filters) more than the level could examine.
    Rows,
    /// The time budget ran out before the traversal reached its depth.
    Time,
}

impl Truncation {
    /// The name the API gives it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Nodes => "nodes",
            Self::Edges => "edges",
            Self::Rows => "rows",
            Self::Time => "time",
        }
    }
}

/// Rows a single level may read per node of budget: enough for the budget
/// to fill on a well-connected graph, while bounding the work of a level.
const ROWS_PER_NODE: u32 = 4;

/// Relationships a filtered level may examine per node of budget, spread
/// over its frontier: the filters may reject most of a node's first
/// relationships, and a hub's are never all read.
const EXAMINED_PER_NODE: u32 = 16;

/// Edges an answer may carry per node of budget.
pub const EDGES_PER_NODE: usize = 2;

/// How long a traversal may take, unless set otherwise.
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(2);

/// How many relationships a level follows from each node of its frontier,
/// in each direction: an equal share of the level's rows, at least one, and
/// never more than the node budget (a node cannot bring more new nodes
/// than that). So a hub costs its share, not its degree, and a frontier of
/// a thousand nodes costs the level's rows, not the sum of their degrees.
fn share_per_node(budget: u16, level_rows: u32, frontier: usize) -> u32 {
    let nodes = u32::try_from(frontier).unwrap_or(u32::MAX).max(1);
    level_rows.div_ceil(nodes).clamp(1, u32::from(budget))
}

/// How many relationships a level reads from each node of its frontier in
/// each direction: with filters, an equal share of the level's examined
/// rows; never fewer than it takes.
fn scan_per_node(step: &Step, budget: u16, take: u32, frontier: usize) -> Scan {
    if !step.is_filtered() {
        return Scan {
            take,
            examine: take,
        };
    }
    let ways = u32::try_from(step.direction.ways().len()).unwrap_or(1);
    let scans = u32::try_from(frontier)
        .unwrap_or(u32::MAX)
        .saturating_mul(ways)
        .max(1);
    let examined = u32::from(budget) * EXAMINED_PER_NODE;
    Scan {
        take,
        examine: examined.div_ceil(scans).max(take),
    }
}

/// Reading the graph around an entity.
#[derive(Clone)]
pub struct GraphService {
    entities: Arc<dyn EntityRepository>,
    relationships: Arc<dyn RelationshipRepository>,
    time_budget: Duration,
}

impl std::fmt::Debug for GraphService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphService").finish_non_exhaustive()
    }
}

impl GraphService {
    /// A service over the given ports, with [`DEFAULT_TIME_BUDGET`].
    #[must_use]
    pub fn new(
        entities: Arc<dyn EntityRepository>,
        relationships: Arc<dyn RelationshipRepository>,
    ) -> Self {
        Self {
            entities,
            relationships,
            time_budget: DEFAULT_TIME_BUDGET,
        }
    }

    /// The same service, with traversals bounded by `budget` in time.
    #[must_use]
    pub const fn with_time_budget(mut self, budget: Duration) -> Self {
        self.time_budget = budget;
        self
    }

    /// Breadth-first from `start` to `query.depth` levels, one repository
    /// query per level, within budgets; each budget that cuts it short is
    /// named in `truncated_by`.
    ///
    /// - Nodes: at most `max_nodes`. Once they are all found no further
    ///   level is read: it could add no node, only relationships among the
    ///   nodes already found.
    /// - Rows: each level follows, from every node of its frontier and in
    ///   each direction, at most its share of relationships (lowest ids
    ///   first; see [`share_per_node`]), and at most `4 × max_nodes` in
    ///   all. With filters, it examines at most `16 × max_nodes`
    ///   relationships, shared over its frontier, to find them.
    /// - Edges: at most [`EDGES_PER_NODE`] `× max_nodes` in the answer. A
    ///   full edge budget ends the traversal, so that every node comes with
    ///   the edge that reached it.
    /// - Time: a level that has not answered when the time budget runs out
    ///   is given up, and no further level starts.
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
        let max_edges = budget * EDGES_PER_NODE;
        let level_rows = u32::from(query.max_nodes.get()) * ROWS_PER_NODE;
        let step = Step {
            direction: query.direction,
            relationship_type: query.relationship_type.clone(),
            min_confidence: query.min_confidence,
            far_type: query.entity_type.clone(),
        };
        let deadline = tokio::time::Instant::now() + self.time_budget;
        let mut included: HashSet<EntityId> = HashSet::from([origin.id]);
        let mut nodes = vec![origin];
        let mut edges = Vec::new();
        let mut seen_edges = HashSet::new();
        let mut frontier = vec![start];
        let mut truncated_by = BTreeSet::new();
        for _ in 0..query.depth.get() {
            if frontier.is_empty() {
                break;
            }
            if nodes.len() >= budget {
                truncated_by.insert(Truncation::Nodes);
                break;
            }
            let share = share_per_node(query.max_nodes.get(), level_rows, frontier.len());
            // One more than the share, to know whether a node had more.
            let scan = scan_per_node(&step, query.max_nodes.get(), share + 1, frontier.len());
            let level = tokio::time::timeout_at(
                deadline,
                self.relationships.expand(&frontier, &step, scan),
            );
            let Ok(expansion) = level.await else {
                truncated_by.insert(Truncation::Time);
                break;
            };
            let Expansion {
                mut hops,
                unexamined,
            } = expansion.map_err(|e| AppError::from_repo(e, ResourceKind::Relationship))?;
            if unexamined {
                truncated_by.insert(Truncation::Rows);
            }
            hops.sort_by_key(|h| h.relationship.id.as_uuid());
            let mut taken: HashMap<(EntityId, bool), u32> = HashMap::new();
            let mut level_seen = HashSet::new();
            let mut followed = Vec::new();
            for hop in hops {
                let count = taken.entry((hop.near(), hop.outgoing)).or_default();
                *count += 1;
                if *count > share {
                    truncated_by.insert(Truncation::Rows);
                } else if level_seen.insert(hop.relationship.id) {
                    followed.push(hop);
                }
            }
            if followed.len() > level_rows as usize {
                truncated_by.insert(Truncation::Rows);
                followed.truncate(level_rows as usize);
            }
            let mut next = Vec::new();
            for hop in followed {
                // A full edge budget ends the traversal: any further hop
                // would add an edge, or a node without the edge that
                // reached it.
                if edges.len() >= max_edges {
                    truncated_by.insert(Truncation::Edges);
                    break;
                }
                let far = hop.far;
                if !included.contains(&far.id) {
                    if nodes.len() >= budget {
                        truncated_by.insert(Truncation::Nodes);
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
            if truncated_by.contains(&Truncation::Edges) {
                break;
            }
            frontier = next;
        }
        Ok(Neighborhood {
            nodes,
            edges,
            truncated_by,
        })
    }
}
