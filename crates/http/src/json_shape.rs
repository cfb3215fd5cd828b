//! The first reading of every JSON body: a streaming pass that builds
//! nothing, so that what a body would cost once parsed is known before it
//! is parsed.
//!
//! Bytes are a poor measure of memory: `{"b":0}` is 7 bytes and about 700
//! once it is a `serde_json::Value`, so a body within its byte limit could
//! still take gigabytes. This pass refuses, before any tree is built:
//!
//! - a body whose parsed form would take more than its budget (413),
//!   estimated from the sizes of the types serde_json builds;
//! - an array of more than [`MAX_ARRAY_ITEMS`] items (422 naming it), so a
//!   batch's item lists are counted before they exist;
//! - an object that names a member twice (422 naming it): serde keeps the
//!   last, and a client may have meant the first.

use std::collections::HashSet;
use std::fmt;
use std::mem::size_of;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The most items any array of a body may hold: a batch's lists, and any
/// array in metadata (whose values are capped at the same number).
pub(crate) const MAX_ARRAY_ITEMS: usize = 1000;

/// Parsed memory allowed per byte of a route's body limit.
pub(crate) const PARSED_BYTES_PER_BODY_BYTE: usize = 4;

/// What a value costs where it is held: its slot in an array or a map.
const VALUE: usize = size_of::<Value>();
/// What an array item costs beyond its slot: a vector grows by doubling,
/// so up to one slot more is reserved per item.
const ITEM: usize = VALUE;
/// A member's key, besides its bytes.
const KEY: usize = size_of::<String>();
/// An object's members live in B-tree nodes of 11 keys and values; an
/// object with one member already takes a whole node, and a larger one
/// fills its leaves about half once they split, with internal nodes above
/// them: about a node per 5 members.
const NODE_SLOTS: usize = 11;
const MEMBERS_PER_NODE: usize = 5;
const NODE: usize = NODE_SLOTS * (KEY + VALUE) + 4 * size_of::<usize>();

/// What the allocator takes for `len` bytes of a string: rounded up, with
/// its own bookkeeping; nothing for an empty one.
const fn heap(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        len.div_ceil(16) * 16 + 16
    }
}

/// Why a body was refused by its shape.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Its parsed form would exceed the budget, in bytes.
    TooCostly { budget: usize },
    /// Invalid JSON, or a shape error at a path.
    Json {
        path: String,
        error: serde_json::Error,
    },
}

/// Reads `body` once, without building it, within `budget` bytes of
/// estimated parsed memory.
pub(crate) fn check(body: &[u8], budget: usize) -> Result<(), Refusal> {
    let mut left = Budget {
        left: budget,
        exceeded: false,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut track = serde_path_to_error::Track::new();
    let result = Shape(&mut left)
        .deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
        .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(()),
        Err(_) if left.exceeded => Err(Refusal::TooCostly { budget }),
        Err(error) => Err(Refusal::Json {
            path: track.path().to_string(),
            error,
        }),
    }
}

struct Budget {
    left: usize,
    exceeded: bool,
}

impl Budget {
    fn charge<E: serde::de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.exceeded = true;
                Err(E::custom("the body would take too much memory once parsed"))
            }
        }
    }
}

/// One value, charged to the budget with everything inside it.
struct Shape<'a>(&'a mut Budget);

impl<'de> DeserializeSeed<'de> for Shape<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shape<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        self.0.charge(heap(s.len()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = 0usize;
        loop {
            self.0.charge(VALUE + ITEM)?;
            if seq.next_element_seed(Shape(&mut *self.0))?.is_none() {
                return Ok(());
            }
            items += 1;
            if items > MAX_ARRAY_ITEMS {
                return Err(A::Error::custom(format_args!(
                    "must hold at most {MAX_ARRAY_ITEMS} items"
                )));
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.len() % MEMBERS_PER_NODE == 0 {
                self.0.charge(NODE)?;
            }
            self.0.charge(KEY + heap(key.len()))?;
            if seen.contains(&key) {
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            }
            map.next_value_seed(Shape(&mut *self.0))?;
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal_path(body: &str, budget: usize) -> Option<(String, String)> {
        match check(body.as_bytes(), budget) {
            Err(Refusal::Json { path, error }) => Some((path, error.to_string())),
            _ => None,
        }
    }

    #[test]
    fn a_body_within_its_budget_passes_and_one_over_it_is_too_costly() {
        let body = format!("{{\"a\":[{}]}}", vec!["{\"b\":0}"; 500].join(","));
        // 500 one-member objects: a node each, and their slots.
        let least = 500 * (NODE + KEY + heap(1) + VALUE + ITEM);
        assert!(check(body.as_bytes(), 2 * least).is_ok());
        assert!(matches!(
            check(body.as_bytes(), least),
            Err(Refusal::TooCostly { budget }) if budget == least
        ));
    }

    /// What `body` is estimated to cost once parsed.
    fn estimate(body: &str) -> usize {
        let mut budget = Budget {
            left: usize::MAX,
            exceeded: false,
        };
        let mut de = serde_json::Deserializer::from_slice(body.as_bytes());
        assert!(Shape(&mut budget).deserialize(&mut de).is_ok());
        usize::MAX - budget.left
    }

    #[test]
    fn the_estimate_is_not_below_what_serde_json_was_measured_to_build() {
        // Measured with a counting allocator against serde_json's `Value`
        // (B-tree maps): about 705 bytes per `{"b":0}` in an array, and
        // about 180 per member of a large object of short keys and small
        // numbers. The estimate must not fall below either.
        let items = format!("[{}]", vec!["{\"b\":0}"; 1000].join(","));
        assert!(estimate(&items) >= 1000 * 705, "{}", estimate(&items));
        let members = (0..10_000)
            .map(|i| format!("\"k{i}\":0"))
            .collect::<Vec<_>>()
            .join(",");
        let object = format!("{{{members}}}");
        assert!(estimate(&object) >= 10_000 * 180, "{}", estimate(&object));
    }

    #[test]
    fn an_array_over_the_limit_is_named_where_it_is() {
        let at = format!(
            "{{\"entities\":[{}]}}",
            vec!["{}"; MAX_ARRAY_ITEMS].join(",")
        );
        assert!(check(at.as_bytes(), usize::MAX).is_ok());
        let over = format!(
            "{{\"x\":{{\"entities\":[{}]}}}}",
            vec!["{}"; MAX_ARRAY_ITEMS + 1].join(",")
        );
        let (path, message) = refusal_path(&over, usize::MAX).unwrap_or_default();
        assert_eq!(path, "x.entities");
        assert!(
            message.starts_with("must hold at most 1000 items"),
            "{message}"
        );
    }

    #[test]
    fn a_repeated_member_is_named_with_its_parent() {
        let (path, message) =
            refusal_path(r#"{"a":{"k":1,"k":2}}"#, usize::MAX).unwrap_or_default();
        assert_eq!(path, "a");
        assert!(message.starts_with("duplicate field `k`"), "{message}");
        assert!(check(br#"{"a":{"k":1},"b":{"k":2}}"#, usize::MAX).is_ok());
    }

    #[test]
    fn invalid_json_is_reported_as_such() {
        assert!(matches!(
            check(b"{\"a\":", usize::MAX),
            Err(Refusal::Json { error, .. }) if error.is_eof()
        ));
        assert!(matches!(
            check(b"{} {}", usize::MAX),
            Err(Refusal::Json { error, .. }) if error.is_syntax()
        ));
    }
}
