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
    assert!(!one.truncated);
    assert_eq!(one.nodes[0].id, hub.id, "the start comes first");

    h.store.with(|s| s.expansions = 0);
    let three = graph
        .neighbors(&c, hub.id, &query(3, 1000))
        .await
        .expect("depth 3");
    assert_eq!(three.nodes.len(), 91);
    assert_eq!(three.edges.len(), 90);
    assert!(!three.truncated);
    // The third level finds nothing new and still costs one query; no more.
    assert_eq!(h.store.with(|s| s.expansions), 3);

    let cut = graph
        .neighbors(&c, hub.id, &query(3, 40))
        .await
        .expect("budget");
    assert_eq!(cut.nodes.len(), 40);
    assert!(cut.truncated);
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
    assert!(found.truncated, "the spoke had more than its share");
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
    assert!(found.truncated);
    assert_eq!(h.store.with(|s| s.expansions), 1);
}
