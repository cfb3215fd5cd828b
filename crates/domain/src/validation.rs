//! Collecting every field's error before refusing an input, so a client
//! learns all that is wrong with a request at once.

use std::fmt;

/// One field's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's name as the client spelt it (`name`, `metadata`, `items[3].type`).
    pub field: String,
    /// What is wrong, in words a client can show.
    pub message: String,
}

/// Every field's problem with one input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// No problems yet.
    #[must_use]
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Records `result`'s error against `field`, and returns its value if any.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.push(field, err.to_string());
                None
            }
        }
    }

    /// Like [`check`](Self::check) for an optional input: `None` stays `None`
    /// and is no error. The outer `Option` is `None` when the input was invalid.
    pub fn check_opt<T, U, E: fmt::Display>(
        &mut self,
        field: &str,
        input: Option<U>,
        parse: impl FnOnce(U) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match input {
            None => Some(None),
            Some(raw) => self.check(field, parse(raw)).map(Some),
        }
    }

    /// Records a problem.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Whether nothing is wrong.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, in the order they were found.
    #[must_use]
    pub fn as_slice(&self) -> &[FieldViolation] {
        &self.0
    }

    /// Appends another check's problems.
    pub fn extend(&mut self, other: Self) {
        self.0.extend(other.0);
    }

    /// Adds another input's problems under a prefix (`items[3]`).
    pub fn extend_prefixed(&mut self, prefix: &str, other: Self) {
        self.0.extend(other.0.into_iter().map(|v| FieldViolation {
            field: format!("{prefix}.{}", v.field),
            message: v.message,
        }));
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

impl From<FieldViolation> for Violations {
    fn from(v: FieldViolation) -> Self {
        Self(vec![v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failing_field_is_recorded_in_order() {
        let mut v = Violations::new();
        let a: Option<u8> = v.check("a", "x".parse::<u8>());
        let b = v.check("b", "7".parse::<u8>());
        let c = v.check_opt("c", Some("-1"), str::parse::<u8>);
        let d = v.check_opt("d", None::<&str>, str::parse::<u8>);
        assert_eq!((a, b, c, d), (None, Some(7), None, Some(None)));
        let fields: Vec<_> = v.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["a", "c"]);
    }
}
