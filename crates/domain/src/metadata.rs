//! Free-form JSON metadata with bounded size and shape.
//!
//! Metadata is held as its JSON text, not as a tree of values: a tree costs
//! many times its text (10 KiB of `{"b":0}` objects take about 90 times
//! their size once parsed), and answers carrying hundreds of rows would
//! otherwise pay that for every one. It is parsed into a tree only where a
//! value is needed: a merge patch, a comparison of two texts that differ,
//! and the writes that build a resource's document as a value.

use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A JSON object of free-form metadata. Written now, it is at most 10 KiB
/// serialised (with its numbers written in full, as PostgreSQL gives them
/// back: `1e300` counts as 301 bytes), nested at most 8 levels deep, at
/// most 100 keys per object, at most 1,000 values in all, and no NUL in
/// any key or string; stored before the value count and the size in full
/// were rules, it may exceed those two ([`Metadata::stored`]).
///
/// The value count bounds what the object costs in memory once parsed,
/// whatever its shape, and the size counted in full bounds its text as
/// either database stores it. It is held as text; two are equal when they hold
/// the same JSON, however the text is spaced or ordered.
#[derive(Debug, Clone)]
pub struct Metadata(Box<RawValue>);

/// Why a JSON value is not valid [`Metadata`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// An array, string, number, boolean or null at the top level.
    #[error("must be a JSON object")]
    NotAnObject,
    /// Larger than [`Metadata::MAX_BYTES`] once serialised.
    #[error("must be at most {max} bytes when serialised, numbers written in full")]
    TooLarge {
        /// The largest serialised size allowed.
        max: usize,
    },
    /// Nested deeper than [`Metadata::MAX_DEPTH`].
    #[error("must be nested at most {max} levels deep")]
    TooDeep {
        /// The deepest nesting allowed.
        max: usize,
    },
    /// An object with more than [`Metadata::MAX_KEYS`] keys.
    #[error("objects must have at most {max} keys")]
    TooManyKeys {
        /// The most keys one object may have.
        max: usize,
    },
    /// More than [`Metadata::MAX_VALUES`] values below the top-level object.
    #[error("must hold at most {max} values in all")]
    TooManyValues {
        /// The most values allowed.
        max: usize,
    },
    /// A key or string containing NUL.
    #[error("keys and strings must not contain NUL characters")]
    NulCharacter,
    /// Stored text that does not read as JSON values (a number out of
    /// range, a lone surrogate).
    #[error("must be readable JSON: {reason}")]
    Unreadable {
        /// What the parser reported.
        reason: String,
    },
}

impl Metadata {
    /// The largest serialised size, in bytes.
    pub const MAX_BYTES: usize = 10 * 1024;
    /// The deepest nesting; the top-level object is level 1.
    pub const MAX_DEPTH: usize = 8;
    /// The most keys in any one object.
    pub const MAX_KEYS: usize = 100;
    /// The most values below the top-level object, at any depth: every
    /// member's value and every array item, containers included. No array
    /// can hold more.
    pub const MAX_VALUES: usize = 1000;

    /// Checks `value` against every rule.
    ///
    /// # Errors
    /// The first [`MetadataError`] found.
    pub fn new(value: Value) -> Result<Self, MetadataError> {
        Self::checked(value, Some(Self::MAX_VALUES))
    }

    /// Metadata as it was stored: every rule but the value count and the
    /// size of numbers in full, which stored rows written before those
    /// rules existed may exceed. Their size, depth and keys were bounded
    /// when they were written, and reading them back must not fail.
    ///
    /// # Errors
    /// The first [`MetadataError`] found.
    pub fn stored(value: Value) -> Result<Self, MetadataError> {
        Self::checked(value, None)
    }

    /// Metadata as it was stored, from its text, which is checked without
    /// being parsed into a tree: what reading it costs is its text. Every
    /// rule but the value count (as [`Metadata::stored`]) and the size: a
    /// database may give the text back spaced out or with its numbers
    /// written in full, so only its shape is checked.
    ///
    /// # Errors
    /// The first [`MetadataError`] found.
    pub fn stored_text(text: Box<RawValue>) -> Result<Self, MetadataError> {
        let mut de = serde_json::Deserializer::from_str(text.get());
        let mut found = None;
        let seed = Check {
            depth: 0,
            found: &mut found,
        };
        match seed.deserialize(&mut de) {
            Ok(()) => Ok(Self(text)),
            // A rule broken, or text whose syntax is valid JSON but whose
            // values are not (the driver checks only the syntax).
            Err(e) => Err(found.unwrap_or_else(|| MetadataError::Unreadable {
                reason: e.to_string(),
            })),
        }
    }

    fn checked(value: Value, max_values: Option<usize>) -> Result<Self, MetadataError> {
        let Value::Object(map) = value else {
            return Err(MetadataError::NotAnObject);
        };
        let mut values = Values {
            left: max_values.unwrap_or(usize::MAX),
            in_full: max_values.is_some(),
            longer_in_full: 0,
        };
        check_object(&map, 1, &mut values)?;
        let text = text_of(&map);
        if text.get().len() + values.longer_in_full > Self::MAX_BYTES {
            return Err(MetadataError::TooLarge {
                max: Self::MAX_BYTES,
            });
        }
        Ok(Self(text))
    }

    /// The empty object.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Whether it has no member.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        // An object's text, however spaced: `{`, whitespace, `}`.
        self.0
            .get()
            .strip_prefix('{')
            .is_some_and(|rest| rest.trim_start().starts_with('}'))
    }

    /// The metadata as JSON text, as it was built or stored.
    #[must_use]
    pub fn as_json(&self) -> &RawValue {
        &self.0
    }

    /// The metadata parsed into a JSON value (always an object).
    #[must_use]
    #[expect(
        clippy::expect_used,
        reason = "the text was checked as metadata when it was built: valid JSON, at most 8 levels deep"
    )]
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).expect("metadata text is valid JSON")
    }

    /// The metadata parsed into a JSON value, consuming it.
    #[must_use]
    pub fn into_value(self) -> Value {
        self.to_value()
    }
}

impl Default for Metadata {
    fn default() -> Self {
        Self(text_of(&Map::new()))
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get() || same_json(&self.to_value(), &other.to_value())
    }
}

/// Whether a float and an integer are the same number, exactly.
fn same_number(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    let integer = |n: &serde_json::Number| {
        n.as_u64()
            .map(i128::from)
            .or_else(|| n.as_i64().map(i128::from))
    };
    let (float, int) = match (x.as_f64().filter(|_| x.is_f64()), integer(y)) {
        (Some(f), Some(i)) => (f, i),
        _ => match (y.as_f64().filter(|_| y.is_f64()), integer(x)) {
            (Some(f), Some(i)) => (f, i),
            _ => return false,
        },
    };
    // Within ±2^127, an integral float converts to i128 exactly.
    if float.fract() != 0.0 || float.abs() >= 1.7e38 {
        return false;
    }
    float as i128 == int
}

/// Whether `a` and `b` are the same JSON, numbers compared by value:
/// PostgreSQL gives a float written `1e+16` back as the integer
/// `10000000000000000`, which is the same number.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || same_number(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, x)| y.get(k).is_some_and(|y| same_json(x, y)))
        }
        _ => a == b,
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// `map` as compact JSON text.
#[expect(
    clippy::expect_used,
    reason = "a map of JSON values always serialises: its keys are strings and no value is a non-finite number"
)]
fn text_of(map: &Map<String, Value>) -> Box<RawValue> {
    serde_json::value::to_raw_value(map).expect("a JSON map serialises")
}

/// The streaming check of stored text: the shape rules of [`Metadata`],
/// without building anything. `depth` is the level of the container
/// holding the value checked (0 for the top level); the rule broken is
/// left in `found`.
struct Check<'a> {
    depth: usize,
    found: &'a mut Option<MetadataError>,
}

impl Check<'_> {
    fn fail<E: serde::de::Error>(self, error: MetadataError) -> E {
        let message = error.to_string();
        *self.found = Some(error);
        E::custom(message)
    }

    fn nested<E: serde::de::Error>(self) -> Result<Self, E> {
        let depth = self.depth + 1;
        if depth > Metadata::MAX_DEPTH {
            return Err(self.fail(MetadataError::TooDeep {
                max: Metadata::MAX_DEPTH,
            }));
        }
        Ok(Self {
            depth,
            found: self.found,
        })
    }

    fn text<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        if s.contains('\0') {
            Err(self.fail(MetadataError::NulCharacter))
        } else {
            Ok(())
        }
    }

    fn scalar<E: serde::de::Error>(self) -> Result<(), E> {
        if self.depth == 0 {
            Err(self.fail(MetadataError::NotAnObject))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("metadata")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        if self.depth == 0 {
            return self.scalar();
        }
        self.text(s)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth == 0 {
            return self.scalar();
        }
        let item = self.nested()?;
        while seq
            .next_element_seed(Check {
                depth: item.depth,
                found: &mut *item.found,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let member = self.nested()?;
        let mut keys = 0;
        // A key reads as a string, so the same check finds NUL in it.
        while map
            .next_key_seed(Check {
                depth: member.depth,
                found: &mut *member.found,
            })?
            .is_some()
        {
            keys += 1;
            if keys > Metadata::MAX_KEYS {
                return Err(member.fail(MetadataError::TooManyKeys {
                    max: Metadata::MAX_KEYS,
                }));
            }
            map.next_value_seed(Check {
                depth: member.depth,
                found: &mut *member.found,
            })?;
        }
        Ok(())
    }
}

/// The values still allowed, and how many bytes longer the numbers are
/// when written in full than as serialised.
struct Values {
    left: usize,
    /// Whether numbers count by their length in full.
    in_full: bool,
    longer_in_full: usize,
}

impl Values {
    fn take(&mut self) -> Result<(), MetadataError> {
        self.left = self
            .left
            .checked_sub(1)
            .ok_or(MetadataError::TooManyValues {
                max: Metadata::MAX_VALUES,
            })?;
        Ok(())
    }
}

fn check_object(
    map: &Map<String, Value>,
    depth: usize,
    values: &mut Values,
) -> Result<(), MetadataError> {
    if map.len() > Metadata::MAX_KEYS {
        return Err(MetadataError::TooManyKeys {
            max: Metadata::MAX_KEYS,
        });
    }
    for (key, value) in map {
        if key.contains('\0') {
            return Err(MetadataError::NulCharacter);
        }
        check_value(value, depth, values)?;
    }
    Ok(())
}

/// `depth` is the level of the container holding `value`.
fn check_value(value: &Value, depth: usize, values: &mut Values) -> Result<(), MetadataError> {
    values.take()?;
    match value {
        Value::Number(n) => {
            if values.in_full {
                values.longer_in_full += longer_in_full(n);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) => Ok(()),
        Value::String(s) if s.contains('\0') => Err(MetadataError::NulCharacter),
        Value::String(_) => Ok(()),
        Value::Array(items) => {
            let depth = nested(depth)?;
            items
                .iter()
                .try_for_each(|item| check_value(item, depth, values))
        }
        Value::Object(map) => check_object(map, nested(depth)?, values),
    }
}

/// How many bytes longer `n` is written in full (as PostgreSQL's `jsonb`
/// gives it back: `1e300` as 301 digits) than as serialised. Integers are
/// always written in full; a float's `Display` is its shortest exact digits
/// without an exponent.
fn longer_in_full(n: &serde_json::Number) -> usize {
    struct Count(usize);
    impl fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let Some(f) = n.as_f64().filter(|_| n.is_f64()) else {
        return 0;
    };
    let (mut full, mut serialised) = (Count(0), Count(0));
    // Writing into a counter cannot fail.
    let _ = fmt::write(&mut full, format_args!("{f}"));
    let _ = fmt::write(&mut serialised, format_args!("{n}"));
    full.0.saturating_sub(serialised.0)
}

fn nested(depth: usize) -> Result<usize, MetadataError> {
    let depth = depth + 1;
    if depth > Metadata::MAX_DEPTH {
        Err(MetadataError::TooDeep {
            max: Metadata::MAX_DEPTH,
        })
    } else {
        Ok(depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn nest(levels: usize) -> Value {
        // `levels` objects in all, counting the top level.
        let mut v = json!({});
        for _ in 1..levels {
            v = json!({ "n": v });
        }
        v
    }

    #[test]
    fn only_objects_are_metadata() {
        for v in [json!([]), json!("x"), json!(1), json!(true), Value::Null] {
            assert_eq!(Metadata::new(v), Err(MetadataError::NotAnObject));
        }
        assert!(Metadata::new(json!({})).is_ok());
    }

    #[test]
    fn eight_levels_are_accepted_and_nine_rejected() {
        assert!(Metadata::new(nest(8)).is_ok());
        assert_eq!(
            Metadata::new(nest(9)),
            Err(MetadataError::TooDeep { max: 8 })
        );
    }

    #[test]
    fn arrays_count_as_levels() {
        let mut v = json!(1);
        for _ in 0..7 {
            v = json!([v]);
        }
        assert!(Metadata::new(json!({ "a": v.clone() })).is_ok());
        assert!(Metadata::new(json!({ "a": [v] })).is_err());
    }

    #[test]
    fn twenty_kib_is_rejected() {
        let v = json!({ "blob": "x".repeat(20 * 1024) });
        assert_eq!(
            Metadata::new(v),
            Err(MetadataError::TooLarge { max: 10 * 1024 })
        );
    }

    #[test]
    fn the_size_limit_is_exact() {
        // {"b":"…"} is 8 bytes of framing around the string.
        let at = json!({ "b": "x".repeat(Metadata::MAX_BYTES - 8) });
        let over = json!({ "b": "x".repeat(Metadata::MAX_BYTES - 7) });
        assert!(Metadata::new(at).is_ok());
        assert!(Metadata::new(over).is_err());
    }

    #[test]
    fn numbers_count_by_their_length_written_in_full() {
        // 40 × 1e300: 287 bytes as serialised, over 12,000 written in full.
        let big = json!({ "a": vec![1e300; 40] });
        assert_eq!(
            Metadata::new(big.clone()),
            Err(MetadataError::TooLarge { max: 10 * 1024 })
        );
        let small = json!({ "a": vec![1e-300; 40] });
        assert!(Metadata::new(small).is_err());
        // Written in full already: integers, and floats without an exponent.
        assert!(Metadata::new(json!({ "a": vec![u64::MAX; 300], "b": vec![0.25; 400] })).is_ok());
        assert!(Metadata::new(json!({ "a": vec![1e300; 10] })).is_ok());
        // A stored row keeps what it was given.
        assert!(Metadata::stored(big).is_ok());
    }

    #[test]
    fn nul_is_rejected_in_keys_and_nested_strings() {
        assert_eq!(
            Metadata::new(json!({ "a\u{0}": 1 })),
            Err(MetadataError::NulCharacter)
        );
        assert_eq!(
            Metadata::new(json!({ "a": [{ "b": "x\u{0}y" }] })),
            Err(MetadataError::NulCharacter)
        );
    }

    #[test]
    fn a_thousand_values_are_accepted_at_any_depth_and_one_more_rejected() {
        // 1 member + 499 objects of one member each = 999 values, then one more.
        let records: Vec<Value> = (0..499).map(|i| json!({ "b": i })).collect();
        assert!(Metadata::new(json!({ "a": records.clone() })).is_ok());
        let mut more = records.clone();
        more.push(json!(0));
        assert!(Metadata::new(json!({ "a": more.clone() })).is_ok());
        more.push(json!(0));
        assert_eq!(
            Metadata::new(json!({ "a": more })),
            Err(MetadataError::TooManyValues { max: 1000 })
        );
        // 1,001 small numbers fit in 10 KiB, but not in the value count.
        let flat: Vec<u16> = vec![0; 1001];
        assert_eq!(
            Metadata::new(json!({ "a": flat })),
            Err(MetadataError::TooManyValues { max: 1000 })
        );
    }

    #[test]
    fn stored_metadata_is_read_back_whatever_its_value_count() {
        let flat: Vec<u16> = vec![0; 3000];
        let v = json!({ "a": flat });
        assert!(Metadata::new(v.clone()).is_err());
        assert_eq!(Metadata::stored(v.clone()).map(Metadata::into_value), Ok(v));
        assert_eq!(
            Metadata::stored(json!({ "a\u{0}": 1 })),
            Err(MetadataError::NulCharacter)
        );
    }

    fn text(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn stored_text_is_kept_as_it_is_and_equals_its_compact_form() {
        // As PostgreSQL gives jsonb back: spaced, keys by length.
        let spaced = Metadata::stored_text(text(r#"{"b": [1, 2], "aa": {"c": null}}"#));
        let compact = Metadata::new(json!({"aa": {"c": null}, "b": [1, 2]}));
        assert_eq!(spaced, compact);
        let spaced = spaced.unwrap_or_default();
        assert_eq!(
            spaced.as_json().get(),
            r#"{"b": [1, 2], "aa": {"c": null}}"#
        );
        assert_eq!(
            serde_json::to_string(&spaced).ok().as_deref(),
            Some(r#"{"b": [1, 2], "aa": {"c": null}}"#)
        );
        assert_ne!(spaced, Metadata::empty());
        assert!(Metadata::empty().is_empty() && !spaced.is_empty());
    }

    #[test]
    fn floats_given_back_in_full_read_back_as_the_same_numbers() {
        // As PostgreSQL gives back 1e16 (an integer now), f64::MAX (309
        // digits) and a float of 17 significant digits.
        let written =
            Metadata::new(json!({"a": 1e16, "b": f64::MAX, "c": 1.234_567_890_123_456_7e25}));
        let max = format!("17976931348623157{}", "0".repeat(292));
        let given_back = Metadata::stored_text(text(&format!(
            r#"{{"a": 10000000000000000, "b": {max}, "c": 12345678901234567000000000}}"#
        )));
        assert!(given_back.is_ok(), "{given_back:?}");
        assert_eq!(written, given_back);
        assert_ne!(
            Metadata::new(json!({"a": 1e16})),
            Metadata::new(json!({"a": 10_000_000_000_000_001_u64}))
        );
    }

    #[test]
    fn stored_text_that_is_json_but_not_readable_is_reported_as_such() {
        let huge = format!(r#"{{"a": 1{}}}"#, "0".repeat(400));
        assert!(matches!(
            Metadata::stored_text(text(&huge)),
            Err(MetadataError::Unreadable { .. })
        ));
    }

    #[test]
    fn stored_text_is_checked_for_every_shape_rule_but_the_value_count() {
        let cases = [
            ("[]", Some(MetadataError::NotAnObject)),
            ("\"x\"", Some(MetadataError::NotAnObject)),
            ("1", Some(MetadataError::NotAnObject)),
            ("null", Some(MetadataError::NotAnObject)),
            (r#"{"a\u0000": 1}"#, Some(MetadataError::NulCharacter)),
            (
                r#"{"a": [{"b": "x\u0000y"}]}"#,
                Some(MetadataError::NulCharacter),
            ),
        ];
        for (stored, expected) in cases {
            assert_eq!(
                Metadata::stored_text(text(stored)).err(),
                expected,
                "{stored}"
            );
        }
        let deep = nest(9).to_string();
        assert_eq!(
            Metadata::stored_text(text(&deep)).err(),
            Some(MetadataError::TooDeep { max: 8 })
        );
        assert!(Metadata::stored_text(text(&nest(8).to_string())).is_ok());
        let mut arrays = json!(1);
        for _ in 0..7 {
            arrays = json!([arrays]);
        }
        assert!(Metadata::stored_text(text(&json!({ "a": arrays.clone() }).to_string())).is_ok());
        assert_eq!(
            Metadata::stored_text(text(&json!({ "a": [arrays] }).to_string())).err(),
            Some(MetadataError::TooDeep { max: 8 })
        );
        let keys: Map<String, Value> = (0..101).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(
            Metadata::stored_text(text(&Value::Object(keys).to_string())).err(),
            Some(MetadataError::TooManyKeys { max: 100 })
        );
        let many = json!({ "a": vec![0; 3000] });
        assert_eq!(
            Metadata::stored_text(text(&many.to_string())).map(Metadata::into_value),
            Ok(many)
        );
    }

    proptest! {
        #[test]
        fn stored_text_accepts_what_new_accepts(key in "[a-c\\x{0}]{0,3}", val in "[a-c\\x{0}\"]{0,3}", n in 0u8..3) {
            let v = json!({ key.clone(): [val.clone(), { "n": n }] });
            let built = Metadata::new(v.clone());
            let stored = Metadata::stored_text(text(&v.to_string()));
            prop_assert_eq!(built.is_ok(), stored.is_ok());
            if let (Ok(b), Ok(s)) = (built, stored) {
                prop_assert_eq!(b, s);
            }
        }

        #[test]
        fn up_to_100_keys_are_accepted(n in 0usize..=100) {
            let map: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
            prop_assert!(Metadata::new(Value::Object(map)).is_ok());
        }

        #[test]
        fn more_than_100_keys_are_rejected(n in 101usize..300) {
            let map: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
            prop_assert_eq!(Metadata::new(Value::Object(map)), Err(MetadataError::TooManyKeys { max: 100 }));
        }

        #[test]
        fn accepted_metadata_never_holds_nul(key in "[a\\x{0}b]{0,5}", val in "[a\\x{0}b]{0,5}") {
            if let Ok(m) = Metadata::new(json!({ key: val })) {
                prop_assert!(!m.into_value().to_string().contains("\\u0000"));
            }
        }
    }
}
