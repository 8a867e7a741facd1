//! One counter's result, and the multiplexing scale that produces it.

use serde::{Deserialize, Serialize};

/// A counter reading: a value, or the reason it could not be measured.
///
/// Serialises as `{"value": n}` or `{"unsupported": "reason"}`; maps one-to-one onto
/// `copybench_core::result::Metric`. A counter that was not measured is never a `Value(0)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    Value(u64),
    Unsupported(String),
}

impl Reading {
    /// The value, if measured.
    pub fn value(&self) -> Option<u64> {
        match self {
            Reading::Value(v) => Some(*v),
            Reading::Unsupported(_) => None,
        }
    }

    /// The reason, if not measured.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Reading::Value(_) => None,
            Reading::Unsupported(r) => Some(r),
        }
    }
}

/// Reason given when a counter group was enabled but never got onto the PMU.
pub const NEVER_SCHEDULED: &str = "never scheduled on the PMU (multiplexed out)";

/// Scales a raw count for multiplexing: `value * time_enabled / time_running`.
///
/// When the kernel time-shares more counters than the PMU holds, a group only counts while it
/// is scheduled (`time_running`); the estimate for the whole enabled time is the value scaled
/// up. A group that never ran has no estimate: that is `Unsupported`, not 0. The product is
/// computed in 128 bits and clamped to `u64::MAX`.
pub fn scale_for_multiplexing(value: u64, time_enabled_ns: u64, time_running_ns: u64) -> Reading {
    if time_running_ns == 0 {
        return Reading::Unsupported(NEVER_SCHEDULED.to_string());
    }
    if time_running_ns >= time_enabled_ns {
        return Reading::Value(value);
    }
    let scaled = u128::from(value) * u128::from(time_enabled_ns) / u128::from(time_running_ns);
    Reading::Value(u64::try_from(scaled).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_multiplies_by_enabled_over_running() {
        assert_eq!(scale_for_multiplexing(100, 200, 100), Reading::Value(200));
        assert_eq!(scale_for_multiplexing(100, 300, 100), Reading::Value(300));
        assert_eq!(scale_for_multiplexing(7, 10, 10), Reading::Value(7));
        assert_eq!(scale_for_multiplexing(0, 10, 10), Reading::Value(0));
        // Rounds down, like perf stat.
        assert_eq!(scale_for_multiplexing(10, 3, 2), Reading::Value(15));
        assert_eq!(scale_for_multiplexing(1, 3, 2), Reading::Value(1));
    }

    #[test]
    fn never_running_is_unsupported_not_zero() {
        assert_eq!(
            scale_for_multiplexing(100, 200, 0),
            Reading::Unsupported(NEVER_SCHEDULED.to_string())
        );
        assert_eq!(
            scale_for_multiplexing(0, 0, 0),
            Reading::Unsupported(NEVER_SCHEDULED.to_string())
        );
    }

    #[test]
    fn scaling_does_not_overflow() {
        assert_eq!(
            scale_for_multiplexing(u64::MAX, u64::MAX, 1),
            Reading::Value(u64::MAX)
        );
        assert_eq!(
            scale_for_multiplexing(u64::MAX / 2, 4, 2),
            Reading::Value(u64::MAX - 1)
        );
    }

    #[test]
    fn json_shape() {
        assert_eq!(
            serde_json::to_value(Reading::Value(5)).unwrap(),
            serde_json::json!({"value": 5})
        );
        assert_eq!(
            serde_json::to_value(Reading::Unsupported("no PMU".into())).unwrap(),
            serde_json::json!({"unsupported": "no PMU"})
        );
        let back: Reading = serde_json::from_str(r#"{"value":5}"#).unwrap();
        assert_eq!(back, Reading::Value(5));
    }
}
