//! Confidence scores.

/// A confidence score: finite and within `0.0..=1.0`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Confidence(f64);

/// Why a number is not a [`Confidence`].
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ConfidenceError {
    /// The value is NaN, infinite, or outside `0.0..=1.0`.
    #[error("must be a finite number between 0 and 1")]
    OutOfRange(f64),
}

impl Confidence {
    /// # Errors
    /// [`ConfidenceError::OutOfRange`] unless `value` is finite and in `0.0..=1.0`.
    pub fn new(value: f64) -> Result<Self, ConfidenceError> {
        if value.is_finite() && (0.0..=1.0).contains(&value) {
            // Normalise -0.0 so that equal scores compare and serialise alike.
            Ok(Self(value + 0.0))
        } else {
            Err(ConfidenceError::OutOfRange(value))
        }
    }

    /// The score.
    #[must_use]
    pub const fn get(self) -> f64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_value_in_range_is_accepted(v in 0.0f64..=1.0) {
            prop_assert_eq!(Confidence::new(v).map(Confidence::get), Ok(v));
        }

        #[test]
        fn every_value_above_one_is_rejected(v in 1.0f64..f64::MAX) {
            prop_assume!(v > 1.0);
            prop_assert!(Confidence::new(v).is_err());
        }

        #[test]
        fn every_negative_value_is_rejected(v in f64::MIN..0.0f64) {
            prop_assert!(Confidence::new(v).is_err());
        }
    }

    #[test]
    fn non_finite_values_are_rejected() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.1, 1.5, 7.5] {
            assert!(Confidence::new(v).is_err(), "{v} was accepted");
        }
    }

    #[test]
    fn the_bounds_are_inclusive() {
        assert!(Confidence::new(0.0).is_ok());
        assert!(Confidence::new(1.0).is_ok());
        assert_eq!(
            Confidence::new(-0.0).map(|c| c.get().to_bits()),
            Ok(0.0f64.to_bits())
        );
    }
}
