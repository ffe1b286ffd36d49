//! Run items (SPEC §1): the targets of an item-processing run, each `pending`
//! until it completes once with an outcome. Item outcomes are run outcomes,
//! plus `skipped`, which no run has.

use serde::{Deserialize, Serialize};

use crate::run::RunOutcome;
use crate::summary::SummaryCounts;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Pending,
    Completed,
}

impl ItemStatus {
    pub const ALL: &'static [ItemStatus] = &[ItemStatus::Pending, ItemStatus::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<ItemStatus> {
        ItemStatus::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    Pending,
    Succeeded,
    Failed,
    Skipped,
    Blocked,
    Cancelled,
}

impl ItemOutcome {
    pub const ALL: &'static [ItemOutcome] = &[
        ItemOutcome::Pending,
        ItemOutcome::Succeeded,
        ItemOutcome::Failed,
        ItemOutcome::Skipped,
        ItemOutcome::Blocked,
        ItemOutcome::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemOutcome::Pending => "pending",
            ItemOutcome::Succeeded => "succeeded",
            ItemOutcome::Failed => "failed",
            ItemOutcome::Skipped => "skipped",
            ItemOutcome::Blocked => "blocked",
            ItemOutcome::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ItemOutcome> {
        ItemOutcome::ALL.iter().copied().find(|v| v.as_str() == s)
    }

    /// The run outcome of the same name (the one badge mapping); `skipped` has none.
    pub fn as_run_outcome(self) -> Option<RunOutcome> {
        RunOutcome::parse(self.as_str())
    }

    /// Counts a finished item in a run's summary counts (SPEC §4); `result`
    /// says whether it created or updated an object.
    pub fn tally(self, counts: &mut SummaryCounts, result: Option<&str>) {
        match self {
            ItemOutcome::Succeeded => counts.succeeded += 1,
            ItemOutcome::Failed => counts.failed += 1,
            ItemOutcome::Skipped => counts.skipped += 1,
            ItemOutcome::Blocked => counts.blocked += 1,
            ItemOutcome::Pending | ItemOutcome::Cancelled => {}
        }
        match result {
            Some("created") => counts.created += 1,
            Some("updated") => counts.updated += 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in ItemStatus::ALL {
            assert_eq!(ItemStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
        }
        for o in ItemOutcome::ALL {
            assert_eq!(ItemOutcome::parse(o.as_str()), Some(*o));
            assert_eq!(serde_json::to_value(o).ok(), Some(serde_json::json!(o.as_str())));
        }
        assert_eq!(ItemOutcome::Skipped.as_run_outcome(), None);
        assert_eq!(ItemOutcome::Blocked.as_run_outcome(), Some(RunOutcome::Blocked));
    }

    #[test]
    fn tally_counts_outcomes_and_results() {
        let mut c = SummaryCounts::default();
        ItemOutcome::Succeeded.tally(&mut c, Some("created"));
        ItemOutcome::Succeeded.tally(&mut c, Some("updated"));
        ItemOutcome::Skipped.tally(&mut c, Some("unchanged"));
        ItemOutcome::Blocked.tally(&mut c, None);
        ItemOutcome::Cancelled.tally(&mut c, None);
        let c = c.recount();
        assert_eq!((c.succeeded, c.skipped, c.blocked, c.created, c.updated, c.processed), (2, 1, 1, 1, 1, 3));
    }
}
