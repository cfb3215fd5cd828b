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

    /// The confidence that at least one of independent sources is right,
    /// each as sure as its score (noisy-OR): `1 - Π(1 - c)`; `None` for
    /// none. One score is itself, exactly. Several are multiplied in
    /// ascending order and the result is rounded to 12 decimal places, so
    /// the same scores combine to the same number in any order, on any
    /// database, and 0.6 with 0.5 is 0.8, not 0.7999999999999999.
    #[must_use]
    pub fn combine(scores: impl IntoIterator<Item = Self>) -> Option<Self> {
        let mut scores: Vec<f64> = scores.into_iter().map(Self::get).collect();
        match scores.len() {
            0 => None,
            1 => Some(Self(scores[0])),
            _ => {
                scores.sort_by(f64::total_cmp);
                let doubt: f64 = scores.iter().map(|c| 1.0 - c).product();
                let combined = ((1.0 - doubt) * 1e12).round() / 1e12;
                Some(Self(combined.clamp(0.0, 1.0) + 0.0))
            }
        }
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
    fn independent_scores_combine_by_noisy_or() -> Result<(), ConfidenceError> {
        let c = |v| Confidence::new(v);
        let combined = |scores: &[f64]| {
            Confidence::combine(scores.iter().map(|v| Confidence(*v))).map(Confidence::get)
        };
        assert_eq!(combined(&[]), None);
        // One score is itself, to the last bit.
        assert_eq!(combined(&[0.1]), Some(0.1));
        assert_eq!(
            combined(&[0.123_456_789_012_345]),
            Some(0.123_456_789_012_345)
        );
        assert_eq!(combined(&[0.6, 0.5]), Some(0.8));
        assert_eq!(combined(&[0.5, 0.6]), Some(0.8));
        assert_eq!(combined(&[0.3, 0.3]), Some(0.51));
        assert_eq!(combined(&[0.0, 0.0]), Some(0.0));
        assert_eq!(combined(&[1.0, 0.2]), Some(1.0));
        assert_eq!(c(0.5)?.get(), 0.5);
        Ok(())
    }

    proptest! {
        #[test]
        fn a_combination_is_a_score_no_lower_than_its_highest_and_ignores_order(
            mut scores in proptest::collection::vec(0.0f64..=1.0, 1..20)
        ) {
            let of = |s: &[f64]| {
                Confidence::combine(s.iter().map(|v| Confidence(*v))).map(Confidence::get)
            };
            let combined = of(&scores);
            let highest = scores.iter().copied().fold(0.0, f64::max);
            prop_assert!(combined.is_some_and(|c| (0.0..=1.0).contains(&c)));
            prop_assert!(combined.is_some_and(|c| c >= highest - 1e-12));
            scores.reverse();
            prop_assert_eq!(of(&scores), combined);
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
