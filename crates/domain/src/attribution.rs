//! Attribution: what a source says about a fact besides the fact itself.

use crate::{Confidence, Metadata, SourceRef, TypeName};

/// How sure the source of a fact is, where the fact came from, and what
/// else the source said about it. Entities and relationships carry one
/// each, so a rule about attribution is written once for both.
///
/// "Source" here is always provenance (a document, a URL, a pipeline's
/// record). A relationship's *source end* is a different thing: see
/// [`Endpoints::source`](crate::Endpoints::source).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attribution {
    /// How sure the source is of the fact.
    pub confidence: Option<Confidence>,
    /// Where the fact came from (`https://…`, `doc:42#p3`).
    pub source_ref: Option<SourceRef>,
    /// What kind of source that is (`wikipedia`, `llm.extraction`).
    pub source_type: Option<TypeName>,
    /// Free-form JSON metadata.
    pub metadata: Metadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_attribution_says_nothing() {
        let a = Attribution::default();
        assert_eq!(
            (a.confidence, a.source_ref, a.source_type),
            (None, None, None)
        );
        assert!(a.metadata.is_empty());
    }
}
