//! What a batch did, item by item.

use kg_domain::Version;

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was new and has been created.
    Created,
    /// It existed with other data and has been updated.
    Updated,
    /// It existed, stated by another source, and this item's source is
    /// now recorded as evidence for it (ADR 44).
    Corroborated,
    /// It existed with exactly this data, or its source had said exactly
    /// this of it.
    Unchanged,
}

impl Outcome {
    /// Every outcome, in the order reports count them.
    pub const ALL: [Self; 4] = [
        Self::Created,
        Self::Updated,
        Self::Corroborated,
        Self::Unchanged,
    ];

    /// The outcome's name in responses.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Corroborated => "corroborated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One item's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemResult {
    /// Its index in the request.
    pub index: usize,
    /// What became of it.
    pub outcome: Outcome,
    /// The resource's id.
    pub id: uuid::Uuid,
    /// The resource's version after the batch.
    pub version: Version,
}

/// What a batch did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// One result per entity item, in request order.
    pub entities: Vec<ItemResult>,
    /// One result per relationship item, in request order.
    pub relationships: Vec<ItemResult>,
}

impl BatchReport {
    /// How many items, entities and relationships together, had `outcome`.
    #[must_use]
    pub fn count(&self, outcome: Outcome) -> usize {
        self.entities
            .iter()
            .chain(&self.relationships)
            .filter(|r| r.outcome == outcome)
            .count()
    }
}
