//! Duplicate candidates: live entities of an entity's type that are likely
//! the same thing, scored by how alike their names are (ADR 45), so that a
//! pipeline or a reviewer can decide what to merge.
//!
//! Storage finds the candidates (on PostgreSQL with `pg_trgm`, through its
//! trigram index; elsewhere by the words the names share); the score is
//! computed here, by one rule, so a pair scores the same on every database.

use std::collections::HashSet;

use kg_domain::{Entity, Violations};

use crate::fold;

/// The lowest score a candidate may have: the similarity at which
/// PostgreSQL's trigram index (`pg_trgm`'s default threshold) finds names.
pub const MIN_DUPLICATE_SCORE: f64 = 0.3;

/// The most candidates one answer holds.
pub const MAX_DUPLICATES: u16 = 100;

/// The most candidates storage reads to score for one answer.
pub const DUPLICATE_CANDIDATES: u64 = 1000;

/// The most words of a name a database without trigrams looks for.
pub const SEARCH_WORDS: usize = 4;

/// A live entity that may be the same thing as another, and how alike
/// their names are.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    /// The candidate.
    pub entity: Entity,
    /// From [`MIN_DUPLICATE_SCORE`] to 1: the trigram similarity of the
    /// folded names, 1 when they are the same.
    pub score: f64,
    /// Whether the folded names are the same.
    pub same_name: bool,
}

/// What a request for duplicates asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DuplicateQuery {
    /// Candidates scoring at least this.
    min_score: f64,
    /// At most this many.
    limit: u16,
}

impl Default for DuplicateQuery {
    fn default() -> Self {
        Self {
            min_score: MIN_DUPLICATE_SCORE,
            limit: 20,
        }
    }
}

impl DuplicateQuery {
    /// A query for at most `limit` candidates scoring at least `min_score`
    /// (each defaulting when absent: 20, and [`MIN_DUPLICATE_SCORE`]).
    ///
    /// # Errors
    /// `min_score` out of [`MIN_DUPLICATE_SCORE`]–1, `limit` out of
    /// 1–[`MAX_DUPLICATES`]: each that is.
    pub fn new(min_score: Option<f64>, limit: Option<i64>) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let default = Self::default();
        let min_score = match min_score {
            None => default.min_score,
            Some(s) if (MIN_DUPLICATE_SCORE..=1.0).contains(&s) => s,
            Some(_) => {
                v.push(
                    "min_score",
                    format!("must be a number from {MIN_DUPLICATE_SCORE} to 1"),
                );
                default.min_score
            }
        };
        let limit = match limit {
            None => default.limit,
            Some(n) => u16::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_DUPLICATES).contains(n))
                .unwrap_or_else(|| {
                    v.push("limit", format!("must be from 1 to {MAX_DUPLICATES}"));
                    default.limit
                }),
        };
        if v.is_empty() {
            Ok(Self { min_score, limit })
        } else {
            Err(v)
        }
    }

    /// The lowest score asked for.
    #[must_use]
    pub const fn min_score(&self) -> f64 {
        self.min_score
    }

    /// The most candidates asked for.
    #[must_use]
    pub const fn limit(&self) -> u16 {
        self.limit
    }
}

/// The trigrams of a folded name, as `pg_trgm` takes them: each word (a run
/// of letters and digits) padded with two spaces before and one after, and
/// every three characters in a row of that.
fn trigrams(folded: &str) -> HashSet<[char; 3]> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .flat_map(|word| {
            let padded: Vec<char> = "  ".chars().chain(word.chars()).chain([' ']).collect();
            padded
                .windows(3)
                .map(|w| [w[0], w[1], w[2]])
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How alike two names are: the trigrams their folded forms share, over
/// all the trigrams either has (`pg_trgm`'s `similarity`). 1 for names
/// that fold alike, 0 for names with no word at all.
#[must_use]
pub fn name_similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (trigrams(&fold(a)), trigrams(&fold(b)));
    let shared = a.intersection(&b).count();
    let all = a.len() + b.len() - shared;
    if all == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // Counts of trigrams of at most 200 characters.
    let score = shared as f64 / all as f64;
    score
}

/// The words of a folded name that a database without trigrams can look
/// for: those of three characters or more, longest first, at most `n`.
#[must_use]
pub fn search_words(folded: &str, n: usize) -> Vec<&str> {
    let mut words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .collect();
    words.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    words.dedup();
    words.truncate(n);
    words
}

/// The candidates of `of` that `query` asks for: each scored, those under
/// its lowest score and `of` itself left out, best first (then the same
/// name first, then by id), at most its limit.
#[must_use]
pub fn rank_duplicates(
    of: &Entity,
    candidates: Vec<Entity>,
    query: DuplicateQuery,
) -> Vec<Duplicate> {
    let name = fold(of.data.name.as_str());
    let mut found: Vec<Duplicate> = candidates
        .into_iter()
        .filter(|e| e.id != of.id && e.data.kind == of.data.kind && e.lifecycle.is_live())
        .map(|entity| {
            let candidate = fold(entity.data.name.as_str());
            let same_name = candidate == name;
            let score = if same_name {
                1.0
            } else {
                name_similarity(&name, &candidate)
            };
            Duplicate {
                entity,
                score,
                same_name,
            }
        })
        .filter(|d| d.score >= query.min_score)
        .collect();
    found.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.same_name.cmp(&a.same_name))
            .then(a.entity.id.cmp(&b.entity.id))
    });
    found.truncate(usize::from(query.limit));
    found
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use kg_domain::{Attribution, EntityData, EntityName, TypeName, UserId};

    use super::*;

    type Result = std::result::Result<(), Box<dyn std::error::Error>>;

    fn entity(kind: &str, name: &str) -> std::result::Result<Entity, Box<dyn std::error::Error>> {
        Ok(Entity::create(
            EntityData {
                kind: TypeName::parse(kind)?,
                name: EntityName::parse(name)?,
                external_id: None,
                attribution: Attribution::default(),
            },
            UserId::generate(),
            Utc::now(),
        ))
    }

    #[test]
    fn similarity_is_pg_trgms() {
        // The values PostgreSQL 15's pg_trgm gives (as float4) for these pairs.
        for (a, b, pg) in [
            ("Ada Lovelace", "Ada King Lovelace", 0.722_222_2),
            ("Ada Lovelace", "Lovelace, Ada", 1.0),
            ("Émile Zola", "Emile Zola", 0.571_428_6),
        ] {
            let score = name_similarity(a, b);
            assert!((score - pg).abs() < 1e-6, "{a} / {b}: {score}, not {pg}");
        }
        assert!((name_similarity("ADA", "ada") - 1.0).abs() < f64::EPSILON);
        assert!(name_similarity("Ada", "Charles").abs() < f64::EPSILON);
        assert!(name_similarity("…", "—").abs() < f64::EPSILON);
    }

    #[test]
    fn candidates_are_ranked_bounded_and_of_the_type() -> Result {
        let ada = entity("Person", "Ada Lovelace")?;
        let same = entity("Person", "ADA LOVELACE")?;
        let close = entity("Person", "Ada King Lovelace")?;
        let far = entity("Person", "Charles Babbage")?;
        let ship = entity("Ship", "Ada Lovelace")?;
        let all = vec![ada.clone(), far, close.clone(), ship, same.clone()];

        let found = rank_duplicates(&ada, all.clone(), DuplicateQuery::default());
        let got: Vec<_> = found.iter().map(|d| (d.entity.id, d.same_name)).collect();
        assert_eq!(got, [(same.id, true), (close.id, false)]);
        assert!((found[0].score - 1.0).abs() < f64::EPSILON);

        let strict = DuplicateQuery::new(Some(0.9), None)?;
        assert_eq!(rank_duplicates(&ada, all.clone(), strict).len(), 1);
        let one = DuplicateQuery::new(None, Some(1))?;
        assert_eq!(rank_duplicates(&ada, all, one).len(), 1);
        Ok(())
    }

    /// The fields a refused query names.
    fn refused(min_score: Option<f64>, limit: Option<i64>) -> Vec<String> {
        DuplicateQuery::new(min_score, limit)
            .err()
            .map(|v| v.as_slice().iter().map(|e| e.field.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_query_is_bounded() {
        assert_eq!(refused(Some(0.2), None), ["min_score"]);
        assert_eq!(refused(Some(f64::NAN), None), ["min_score"]);
        for n in [0, 101, -1] {
            assert_eq!(refused(None, Some(n)), ["limit"]);
        }
        assert_eq!(refused(Some(2.0), Some(0)), ["min_score", "limit"]);
        assert_eq!(refused(Some(0.3), Some(100)), Vec::<String>::new());
    }

    #[test]
    fn search_words_are_the_longest_of_three_letters_or_more() {
        assert_eq!(
            search_words("ada king of lovelace", 2),
            ["lovelace", "king"]
        );
        assert_eq!(search_words("a b", 4), Vec::<&str>::new());
    }
}
