//! Traversal.

use std::sync::Arc;

use kg_domain::*;

use super::*;
use crate::*;

/// A hub linked to `spokes` entities, spoke `i` linked to `leaves(i)`
/// entities of its own: the hub and the spokes.
async fn star(
    h: &Harness,
    c: &RequestContext,
    spokes: usize,
    leaves: impl Fn(usize) -> usize,
) -> (Entity, Vec<Entity>) {
    let hub = h.entities.create(c, person("hub")).await.expect("hub");
    let mut made = Vec::new();
    for i in 0..spokes {
        let s = h
            .entities
            .create(c, person(&format!("s{i}")))
            .await
            .expect("spoke");
        h.relationships
            .create(c, knows(hub.id, s.id))
            .await
            .expect("link");
        for j in 0..leaves(i) {
            let leaf = h
                .entities
                .create(c, person(&format!("l{i}-{j}")))
                .await
                .expect("leaf");
            h.relationships
                .create(c, knows(s.id, leaf.id))
                .await
                .expect("link");
        }
        made.push(s);
    }
    (hub, made)
}

#[tokio::test]
async fn neighbors_go_breadth_first_one_query_per_level_within_the_budget() {
    let h = harness();
    let c = ctx(Role::Editor);
    // A star of 30 around the hub, each spoke with two leaves of its own.
    let (hub, spokes) = star(&h, &c, 30, |_| 2).await;
    let graph = GraphService::new(Arc::new(h.store.clone()), Arc::new(h.store.clone()));
    let query = |depth: i64, max: i64| NeighborQuery {
        depth: Depth::new(depth).expect("depth"),
        direction: Direction::Outgoing,
        entity_type: None,
        relationship_type: None,
        min_confidence: None,
        max_nodes: NodeBudget::new(max).expect("budget"),
    };
    let one = graph
        .neighbors(&c, hub.id, &query(1, 1000))
        .await
        .expect("depth 1");
    assert_eq!(one.nodes.len(), 31);
    assert_eq!(one.edges.len(), 30);
    assert!(!one.truncated());
    assert_eq!(one.nodes[0].id, hub.id, "the start comes first");

    h.store.with(|s| s.expansions = 0);
    let three = graph
        .neighbors(&c, hub.id, &query(3, 1000))
        .await
        .expect("depth 3");
    assert_eq!(three.nodes.len(), 91);
    assert_eq!(three.edges.len(), 90);
    assert!(!three.truncated());
    // The third level finds nothing new and still costs one query; no more.
    assert_eq!(h.store.with(|s| s.expansions), 3);

    let cut = graph
        .neighbors(&c, hub.id, &query(3, 40))
        .await
        .expect("budget");
    assert_eq!(cut.nodes.len(), 40);
    assert_eq!(cut.truncated_by, [Truncation::Nodes].into());
    let ids: std::collections::HashSet<EntityId> = cut.nodes.iter().map(|n| n.id).collect();
    assert!(
        cut.edges
            .iter()
            .all(|e| ids.contains(&e.data.ends.source()) && ids.contains(&e.data.ends.target()))
    );

    let incoming = graph
        .neighbors(
            &c,
            spokes[0].id,
            &NeighborQuery {
                direction: Direction::Incoming,
                ..query(2, 1000)
            },
        )
        .await
        .expect("incoming");
    assert_eq!(
        incoming.nodes.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![spokes[0].id, hub.id]
    );
    assert!(matches!(
        graph
            .neighbors(&c, EntityId::generate(), &query(1, 10))
            .await,
        Err(AppError::NotFound(ResourceKind::Entity))
    ));
}

#[tokio::test]
async fn a_level_follows_a_share_of_each_nodes_relationships() {
    let h = harness();
    let c = ctx(Role::Editor);
    // A start with 100 spokes; the first spoke has 60 leaves of its own.
    let (start, _) = star(&h, &c, 100, |i| if i == 0 { 60 } else { 0 }).await;
    let graph = GraphService::new(Arc::new(h.store.clone()), Arc::new(h.store.clone()));
    let found = graph
        .neighbors(
            &c,
            start.id,
            &NeighborQuery {
                depth: Depth::new(2).expect("depth"),
                direction: Direction::Outgoing,
                entity_type: None,
                relationship_type: None,
                min_confidence: None,
                max_nodes: NodeBudget::MAX,
            },
        )
        .await
        .expect("neighbors");
    // 100 nodes share the second level's 4,000 rows: 40 each.
    assert_eq!(found.nodes.len(), 1 + 100 + 40);
    assert_eq!(
        found.truncated_by,
        [Truncation::Rows].into(),
        "the spoke had more than its share"
    );
    assert_eq!(found.edges.len(), 140);
}

#[tokio::test]
async fn a_full_budget_ends_the_traversal_without_another_query() {
    let h = harness();
    let c = ctx(Role::Editor);
    let (hub, _) = star(&h, &c, 30, |_| 2).await;
    let graph = GraphService::new(Arc::new(h.store.clone()), Arc::new(h.store.clone()));
    h.store.with(|s| s.expansions = 0);
    let found = graph
        .neighbors(
            &c,
            hub.id,
            &NeighborQuery {
                depth: Depth::new(3).expect("depth"),
                direction: Direction::Outgoing,
                entity_type: None,
                relationship_type: None,
                min_confidence: None,
                max_nodes: NodeBudget::new(31).expect("budget"),
            },
        )
        .await
        .expect("neighbors");
    // The first level fills the budget (the hub and its 30 spokes): the
    // next could add no node, so it is not read.
    assert_eq!(found.nodes.len(), 31);
    assert_eq!(found.edges.len(), 30);
    assert_eq!(found.truncated_by, [Truncation::Nodes].into());
    assert_eq!(h.store.with(|s| s.expansions), 1);
}

fn everything(depth: i64, max: i64) -> NeighborQuery {
    NeighborQuery {
        depth: Depth::new(depth).expect("depth"),
        direction: Direction::Both,
        entity_type: None,
        relationship_type: None,
        min_confidence: None,
        max_nodes: NodeBudget::new(max).expect("budget"),
    }
}

#[tokio::test]
async fn an_answer_holds_at_most_two_edges_per_node_of_budget() {
    let h = harness();
    let c = ctx(Role::Editor);
    // Four entities, each pair linked by two types of relationship each
    // way: 24 relationships, 12 at each entity.
    let mut made = Vec::new();
    for name in ["a", "b", "c", "d"] {
        made.push(h.entities.create(&c, person(name)).await.expect("entity"));
    }
    for (i, x) in made.iter().enumerate() {
        for y in &made[i + 1..] {
            for kind in ["K1", "K2"] {
                for (from, to) in [(x.id, y.id), (y.id, x.id)] {
                    let mut link = knows(from, to);
                    link.kind = TypeName::parse(kind).expect("type");
                    h.relationships.create(&c, link).await.expect("link");
                }
            }
        }
    }
    let graph = GraphService::new(Arc::new(h.store.clone()), Arc::new(h.store.clone()));
    let all = graph
        .neighbors(&c, made[0].id, &everything(2, 20))
        .await
        .expect("all");
    assert_eq!((all.nodes.len(), all.edges.len()), (4, 24));
    assert!(!all.truncated());
    // A budget of 10 nodes allows 20 edges: the nodes are all found, and
    // the second level's edges are cut.
    let cut = graph
        .neighbors(&c, made[0].id, &everything(2, 10))
        .await
        .expect("cut");
    assert_eq!((cut.nodes.len(), cut.edges.len()), (4, 20));
    assert_eq!(cut.truncated_by, [Truncation::Edges].into());
}

#[tokio::test]
async fn a_filtered_level_examines_a_bounded_share_of_a_hubs_relationships() {
    let h = harness();
    let c = ctx(Role::Editor);
    // A hub with 40 `KNOWS` and, after them (higher ids), one `LIKES`.
    let (hub, _) = star(&h, &c, 40, |_| 0).await;
    let liked = h.entities.create(&c, person("liked")).await.expect("liked");
    let mut likes = knows(hub.id, liked.id);
    likes.kind = TypeName::parse("LIKES").expect("type");
    h.relationships.create(&c, likes).await.expect("likes");
    let graph = GraphService::new(Arc::new(h.store.clone()), Arc::new(h.store.clone()));
    let only_likes = |max| NeighborQuery {
        relationship_type: Some(TypeName::parse("LIKES").expect("type")),
        ..everything(1, max)
    };
    // A budget of 2 examines 16 × 2 = 32 relationships over two
    // directions: 16 outgoing, none of them `LIKES`.
    let small = graph
        .neighbors(&c, hub.id, &only_likes(2))
        .await
        .expect("small");
    assert_eq!(small.nodes.len(), 1);
    assert_eq!(small.truncated_by, [Truncation::Rows].into());
    // A budget of 6 examines 48 each way: all 41, and it is found.
    let large = graph
        .neighbors(&c, hub.id, &only_likes(6))
        .await
        .expect("large");
    assert_eq!(
        large.nodes.iter().map(|n| n.id).collect::<Vec<_>>(),
        [hub.id, liked.id]
    );
    assert!(!large.truncated());
}

/// Relationships that take their time to be read.
struct Slow(crate::testing::InMemoryStore);

#[async_trait::async_trait]
impl RelationshipRepository for Slow {
    async fn create(
        &self,
        r: &Relationship,
        audit: &AuditEntry,
        completion: Option<&Completion>,
    ) -> Result<(), RepoError> {
        RelationshipRepository::create(&self.0, r, audit, completion).await
    }
    async fn get(&self, id: RelationshipId) -> Result<Option<Relationship>, RepoError> {
        RelationshipRepository::get(&self.0, id).await
    }
    async fn list(
        &self,
        filter: &RelationshipFilter,
        page: PageRequest,
    ) -> Result<Page<Relationship>, RepoError> {
        RelationshipRepository::list(&self.0, filter, page).await
    }
    async fn soft_delete(&self, id: RelationshipId, audit: &AuditEntry) -> Result<(), RepoError> {
        RelationshipRepository::soft_delete(&self.0, id, audit).await
    }
    async fn update(
        &self,
        r: &Relationship,
        expected: Version,
        audit: &AuditEntry,
    ) -> Result<(), RepoError> {
        RelationshipRepository::update(&self.0, r, expected, audit).await
    }
    async fn expand(
        &self,
        frontier: &[EntityId],
        step: &Step,
        scan: Scan,
    ) -> Result<Expansion, RepoError> {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        RelationshipRepository::expand(&self.0, frontier, step, scan).await
    }
}

// Time is paused: the sleeps and the budget run on tokio's clock, which
// advances only when every task waits.
#[tokio::test(start_paused = true)]
async fn a_level_that_outlasts_the_time_budget_is_given_up() {
    let h = harness();
    let c = ctx(Role::Editor);
    let (hub, _) = star(&h, &c, 3, |_| 1).await;
    let slow = GraphService::new(Arc::new(h.store.clone()), Arc::new(Slow(h.store.clone())));
    let within = slow
        .clone()
        .with_time_budget(std::time::Duration::from_secs(30))
        .neighbors(&c, hub.id, &everything(2, 100))
        .await
        .expect("within");
    assert_eq!(within.nodes.len(), 7);
    assert!(!within.truncated());
    let cut = slow
        .with_time_budget(std::time::Duration::from_millis(300))
        .neighbors(&c, hub.id, &everything(2, 100))
        .await
        .expect("cut");
    // The first level (200 ms) is in; the second would end at 400 ms.
    assert_eq!(cut.nodes.len(), 4);
    assert_eq!(cut.truncated_by, [Truncation::Time].into());
}

#[tokio::test]
async fn a_full_edge_budget_ends_the_traversal_without_nodes_left_unconnected() {
    let h = harness();
    let c = ctx(Role::Editor);
    // S → A0..A4, then every A to every other A (20), then A4 → B0..B3.
    let s = h.entities.create(&c, person("s")).await.expect("s");
    let mut a = Vec::new();
    for i in 0..5 {
        let x = h
            .entities
            .create(&c, person(&format!("a{i}")))
            .await
            .expect("a");
        h.relationships
            .create(&c, knows(s.id, x.id))
            .await
            .expect("link");
        a.push(x);
    }
    for x in &a {
        for y in &a {
            if x.id != y.id {
                h.relationships
                    .create(&c, knows(x.id, y.id))
                    .await
                    .expect("link");
            }
        }
    }
    for i in 0..4 {
        let b = h
            .entities
            .create(&c, person(&format!("b{i}")))
            .await
            .expect("b");
        h.relationships
            .create(&c, knows(a[4].id, b.id))
            .await
            .expect("link");
    }
    let graph = GraphService::new(Arc::new(h.store.clone()), Arc::new(h.store.clone()));
    let found = graph
        .neighbors(&c, s.id, &everything(2, 10))
        .await
        .expect("neighbors");
    assert_eq!(found.edges.len(), 20);
    assert_eq!(found.truncated_by, [Truncation::Edges].into());
    for node in &found.nodes[1..] {
        assert!(
            found
                .edges
                .iter()
                .any(|e| e.data.ends.source() == node.id || e.data.ends.target() == node.id),
            "{} came without an edge",
            node.data.name.as_str()
        );
    }
}
