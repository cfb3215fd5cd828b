//! Free-form JSON metadata with bounded size and shape.

use serde_json::{Map, Value};

/// A JSON object of free-form metadata: at most 10 KiB serialised, nested at
/// most 8 levels deep, at most 100 keys per object, at most 1,000 values in
/// all, and no NUL in any key or string.
///
/// The value count bounds what the object costs in memory once parsed,
/// whatever its shape: 10 KiB of `{"b":0}` objects would otherwise take
/// about 90 times their size.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata(Map<String, Value>);

/// Why a JSON value is not valid [`Metadata`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// An array, string, number, boolean or null at the top level.
    #[error("must be a JSON object")]
    NotAnObject,
    /// Larger than [`Metadata::MAX_BYTES`] once serialised.
    #[error("must be at most {max} bytes when serialised")]
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

    /// Metadata as it was stored: every rule but the value count, which
    /// stored rows written before it existed may exceed. Their size,
    /// depth and keys were bounded when they were written, and reading
    /// them back must not fail.
    ///
    /// # Errors
    /// The first [`MetadataError`] found.
    pub fn stored(value: Value) -> Result<Self, MetadataError> {
        Self::checked(value, None)
    }

    fn checked(value: Value, max_values: Option<usize>) -> Result<Self, MetadataError> {
        let Value::Object(map) = value else {
            return Err(MetadataError::NotAnObject);
        };
        let mut values = Values {
            left: max_values.unwrap_or(usize::MAX),
        };
        check_object(&map, 1, &mut values)?;
        let size = serialized_len(&map);
        if size > Self::MAX_BYTES {
            return Err(MetadataError::TooLarge {
                max: Self::MAX_BYTES,
            });
        }
        Ok(Self(map))
    }

    /// The empty object.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// The metadata as a JSON object.
    #[must_use]
    pub const fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The metadata as a JSON value (always an object).
    #[must_use]
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// The metadata as a JSON value, consuming it.
    #[must_use]
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// The values still allowed.
struct Values {
    left: usize,
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
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
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

fn serialized_len(map: &Map<String, Value>) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing into a counter cannot fail, and a map of JSON values always serialises.
    match serde_json::to_writer(&mut counter, map) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
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

    proptest! {
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
