//! Constrained text values: names, type names, external ids and sources.
//!
//! Lengths count Unicode scalar values (characters), never bytes. No value
//! may contain a control character, which also keeps NUL out of both
//! databases alike.

use std::fmt;

/// Why a text is not a valid value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Empty, or only white space.
    #[error("must not be empty")]
    Empty,
    /// Longer than the value allows.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The largest number of characters allowed.
        max: usize,
    },
    /// Contains a control character such as NUL or a line break.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// Begins or ends with white space where the value is compared exactly.
    #[error("must not begin or end with white space")]
    SurroundingWhitespace,
    /// Not of the form `^[A-Za-z][A-Za-z0-9_.-]*$`.
    #[error("must start with a letter and contain only letters, digits, '_', '.' and '-'")]
    BadTypeName,
}

fn check_chars(value: &str, max: usize) -> Result<(), TextError> {
    if value.is_empty() {
        return Err(TextError::Empty);
    }
    if value.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    if value.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    Ok(())
}

macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            /// The value as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as an owned string.
            #[must_use]
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// An entity's display name: 1–200 characters after trimming, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityName(String);

impl EntityName {
    /// The most characters a name may have.
    pub const MAX_CHARS: usize = 200;

    /// Trims `value` and checks it.
    ///
    /// # Errors
    /// [`TextError::Empty`], [`TextError::TooLong`] or [`TextError::ControlCharacter`].
    pub fn parse(value: impl AsRef<str>) -> Result<Self, TextError> {
        let trimmed = value.as_ref().trim();
        check_chars(trimmed, Self::MAX_CHARS)?;
        Ok(Self(trimmed.to_owned()))
    }
}
text_value!(EntityName);

/// The type of an entity or relationship (`Person`, `WORKS_FOR`): 1–100
/// characters matching `^[A-Za-z][A-Za-z0-9_.-]*$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeName(String);

impl TypeName {
    /// The most characters a type name may have.
    pub const MAX_CHARS: usize = 100;

    /// # Errors
    /// [`TextError::Empty`], [`TextError::TooLong`] or [`TextError::BadTypeName`].
    pub fn parse(value: impl AsRef<str>) -> Result<Self, TextError> {
        let value = value.as_ref();
        let mut chars = value.chars();
        let Some(first) = chars.next() else {
            return Err(TextError::Empty);
        };
        if !first.is_ascii_alphabetic()
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(TextError::BadTypeName);
        }
        // Only ASCII remains here, so bytes and characters agree.
        if value.len() > Self::MAX_CHARS {
            return Err(TextError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(value.to_owned()))
    }
}
text_value!(TypeName);

/// A pipeline's own key for an entity, unique among live entities: 1–200
/// characters, compared exactly, so surrounding white space is refused rather
/// than silently trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    /// The most characters an external id may have.
    pub const MAX_CHARS: usize = 200;

    /// # Errors
    /// [`TextError::Empty`], [`TextError::TooLong`], [`TextError::ControlCharacter`]
    /// or [`TextError::SurroundingWhitespace`].
    pub fn parse(value: impl AsRef<str>) -> Result<Self, TextError> {
        let value = value.as_ref();
        check_chars(value, Self::MAX_CHARS)?;
        if value.trim() != value {
            return Err(TextError::SurroundingWhitespace);
        }
        Ok(Self(value.to_owned()))
    }
}
text_value!(ExternalId);

/// Where a fact came from (a URL, a document id, a pipeline name): 1–500
/// characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceRef(String);

impl SourceRef {
    /// The most characters a source may have.
    pub const MAX_CHARS: usize = 500;

    /// # Errors
    /// [`TextError::Empty`], [`TextError::TooLong`] or [`TextError::ControlCharacter`].
    pub fn parse(value: impl AsRef<str>) -> Result<Self, TextError> {
        let trimmed = value.as_ref().trim();
        check_chars(trimmed, Self::MAX_CHARS)?;
        Ok(Self(trimmed.to_owned()))
    }
}
text_value!(SourceRef);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn names_of_1_to_200_printable_characters_are_accepted(s in "[^\\p{Cc}\\s][^\\p{Cc}]{0,198}[^\\p{Cc}\\s]") {
            let name = EntityName::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(name.as_str(), s.as_str());
        }

        #[test]
        fn names_longer_than_200_characters_are_rejected(s in "[a-zé]{201,400}") {
            prop_assert_eq!(EntityName::parse(&s), Err(TextError::TooLong { max: 200 }));
        }

        #[test]
        fn names_with_a_control_character_are_rejected(a in "[a-z]{1,20}", c in "\\p{Cc}", b in "[a-z]{1,20}") {
            prop_assert_eq!(EntityName::parse(format!("{a}{c}{b}")), Err(TextError::ControlCharacter));
        }

        #[test]
        fn type_names_matching_the_pattern_are_accepted(s in "[A-Za-z][A-Za-z0-9_.-]{0,99}") {
            prop_assert!(TypeName::parse(&s).is_ok());
        }

        #[test]
        fn type_names_not_starting_with_a_letter_are_rejected(s in "[0-9_.-][A-Za-z0-9_.-]{0,50}") {
            prop_assert_eq!(TypeName::parse(&s), Err(TextError::BadTypeName));
        }

        #[test]
        fn type_names_with_other_characters_are_rejected(a in "[A-Za-z]{1,10}", c in "[ !@#$%^&*()+=/\\\\é\u{0}]", b in "[a-z]{0,10}") {
            prop_assert_eq!(TypeName::parse(format!("{a}{c}{b}")), Err(TextError::BadTypeName));
        }

        #[test]
        fn type_names_longer_than_100_are_rejected(s in "[A-Za-z][A-Za-z0-9]{100,150}") {
            prop_assert_eq!(TypeName::parse(&s), Err(TextError::TooLong { max: 100 }));
        }

        #[test]
        fn sources_up_to_500_characters_are_accepted(s in "[a-z:/.]{1,500}") {
            prop_assert!(SourceRef::parse(&s).is_ok());
        }

        #[test]
        fn sources_over_500_characters_are_rejected(s in "[a-z]{501,600}") {
            prop_assert_eq!(SourceRef::parse(&s), Err(TextError::TooLong { max: 500 }));
        }
    }

    #[test]
    fn names_are_trimmed_and_blank_names_rejected() {
        assert_eq!(
            EntityName::parse("  Ada  ").map(EntityName::into_inner),
            Ok("Ada".into())
        );
        assert_eq!(EntityName::parse(" \t "), Err(TextError::Empty));
        assert_eq!(EntityName::parse("   "), Err(TextError::Empty));
        assert_eq!(EntityName::parse(""), Err(TextError::Empty));
    }

    #[test]
    fn a_name_of_exactly_200_multibyte_characters_is_accepted() {
        assert!(EntityName::parse("é".repeat(200)).is_ok());
        assert!(EntityName::parse("é".repeat(201)).is_err());
    }

    #[test]
    fn external_ids_are_compared_exactly() {
        assert_eq!(
            ExternalId::parse(" x"),
            Err(TextError::SurroundingWhitespace)
        );
        assert_eq!(
            ExternalId::parse("wiki:Q42").map(ExternalId::into_inner),
            Ok("wiki:Q42".into())
        );
        assert!(ExternalId::parse("a".repeat(200)).is_ok());
        assert_eq!(
            ExternalId::parse("a".repeat(201)),
            Err(TextError::TooLong { max: 200 })
        );
        assert_eq!(ExternalId::parse("a\0b"), Err(TextError::ControlCharacter));
    }

    #[test]
    fn empty_type_names_are_rejected() {
        assert_eq!(TypeName::parse(""), Err(TextError::Empty));
    }
}
