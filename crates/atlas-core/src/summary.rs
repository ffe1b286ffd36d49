//! `summary_counts` normalization and the outcome of item-processing runs (SPEC §4).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::RunOutcome;

/// Always the eight keys, non-negative, with `processed = succeeded + failed + skipped`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryCounts {
    pub total: u64,
    pub processed: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub blocked: u64,
    pub created: u64,
    pub updated: u64,
}

impl SummaryCounts {
    pub const KEYS: [&'static str; 8] =
        ["total", "processed", "succeeded", "failed", "skipped", "blocked", "created", "updated"];

    /// Normalizes whatever a handler or a stored row said: unknown keys dropped,
    /// negatives and non-numbers clamped to 0, `processed` recomputed.
    pub fn normalize(raw: &Value) -> SummaryCounts {
        let get = |key: &str| -> u64 {
            match raw.get(key) {
                Some(Value::Number(n)) => {
                    n.as_u64().or_else(|| n.as_f64().filter(|f| *f > 0.0).map(|f| f as u64)).unwrap_or(0)
                }
                _ => 0,
            }
        };
        SummaryCounts {
            total: get("total"),
            processed: 0,
            succeeded: get("succeeded"),
            failed: get("failed"),
            skipped: get("skipped"),
            blocked: get("blocked"),
            created: get("created"),
            updated: get("updated"),
        }
        .recount()
    }

    /// Restores the `processed` invariant after a change.
    pub fn recount(mut self) -> SummaryCounts {
        self.processed = self.succeeded.saturating_add(self.failed).saturating_add(self.skipped);
        self
    }

    pub fn to_json(self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The outcome of an item-processing run from its item counts, no item pending.
/// `cancelled` says the run was stopped by a cancel.
pub fn item_outcome(c: &SummaryCounts, cancelled: bool) -> RunOutcome {
    let processed = c.succeeded + c.failed + c.skipped;
    if cancelled {
        return if processed > 0 { RunOutcome::PartiallySucceeded } else { RunOutcome::Cancelled };
    }
    if c.failed == 0 && c.blocked == 0 {
        // Zero items, or all succeeded or skipped.
        return RunOutcome::Succeeded;
    }
    if c.succeeded == 0 && c.failed > 0 {
        return RunOutcome::Failed;
    }
    if c.succeeded == 0 {
        // Only skipped and blocked items: nothing was done, a policy stopped it.
        return RunOutcome::Blocked;
    }
    RunOutcome::PartiallySucceeded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Map};

    fn counts(succeeded: u64, failed: u64, skipped: u64, blocked: u64) -> SummaryCounts {
        SummaryCounts {
            total: succeeded + failed + skipped + blocked,
            succeeded,
            failed,
            skipped,
            blocked,
            ..Default::default()
        }
        .recount()
    }

    #[test]
    fn outcome_table_of_spec_section_4() {
        use RunOutcome::*;
        assert_eq!(item_outcome(&counts(0, 0, 0, 0), false), Succeeded, "zero items");
        assert_eq!(item_outcome(&counts(3, 0, 2, 0), false), Succeeded, "all succeeded or skipped");
        assert_eq!(item_outcome(&counts(0, 0, 0, 4), false), Blocked, "none processed, some blocked");
        assert_eq!(item_outcome(&counts(0, 2, 0, 0), false), Failed, "none succeeded, some failed");
        assert_eq!(item_outcome(&counts(0, 2, 1, 3), false), Failed, "failed and blocked");
        assert_eq!(item_outcome(&counts(1, 2, 0, 0), false), PartiallySucceeded);
        assert_eq!(item_outcome(&counts(1, 0, 0, 2), false), PartiallySucceeded);
        assert_eq!(item_outcome(&counts(1, 0, 0, 0), true), PartiallySucceeded, "cancelled with some processed");
        assert_eq!(item_outcome(&counts(0, 0, 0, 0), true), Cancelled);
    }

    proptest! {
        #[test]
        fn normalization_always_yields_the_eight_keys(
            entries in proptest::collection::vec(
                ("[a-z_]{1,10}|total|processed|succeeded|failed|skipped|blocked|created|updated",
                 prop_oneof![any::<i64>().prop_map(|n| json!(n)), any::<f64>().prop_map(|f| json!(f)),
                             Just(json!("7")), Just(Value::Null), any::<u64>().prop_map(|n| json!(n / 4))]),
                0..20)
        ) {
            let raw: Map<String, Value> = entries.into_iter().collect();
            let c = SummaryCounts::normalize(&Value::Object(raw));
            let json = c.to_json();
            let obj = json.as_object().cloned().unwrap_or_default();
            prop_assert_eq!(obj.len(), 8);
            for key in SummaryCounts::KEYS {
                prop_assert!(obj.get(key).and_then(Value::as_u64).is_some(), "{} missing or negative", key);
            }
            prop_assert_eq!(c.processed, c.succeeded.saturating_add(c.failed).saturating_add(c.skipped));
            prop_assert_eq!(SummaryCounts::normalize(&json), c);
        }

        #[test]
        fn outcome_derivation_matches_the_table(s in 0u64..5, f in 0u64..5, k in 0u64..5, b in 0u64..5, cancelled: bool) {
            let out = item_outcome(&counts(s, f, k, b), cancelled);
            let processed = s + f + k;
            let expected = if cancelled {
                if processed > 0 { RunOutcome::PartiallySucceeded } else { RunOutcome::Cancelled }
            } else if f + b == 0 {
                RunOutcome::Succeeded
            } else if processed == 0 && b > 0 {
                RunOutcome::Blocked
            } else if s == 0 && f > 0 {
                RunOutcome::Failed
            } else if s > 0 {
                RunOutcome::PartiallySucceeded
            } else {
                RunOutcome::Blocked
            };
            prop_assert_eq!(out, expected);
        }
    }
}
