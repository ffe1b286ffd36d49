//! The one badge mapping (SPEC §6.2): value → label and color. Blocked is a
//! policy refusal and never shares failed's color; awaiting approval shares
//! neither's.

use crate::approval::{self, Approval};
use crate::run::{RunOutcome, RunStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Badge {
    /// The `data-status` / `data-outcome` value.
    pub value: &'static str,
    pub label: &'static str,
    /// A CSS color token (`--badge-<color>`).
    pub color: &'static str,
    /// A short icon name, for `aria-hidden` decoration only: the label is the meaning.
    pub icon: &'static str,
}

pub fn status_badge(status: RunStatus) -> Badge {
    match status {
        RunStatus::Queued => Badge { value: "queued", label: "Queued", color: "grey", icon: "circle-outline" },
        RunStatus::Running => Badge { value: "running", label: "Running", color: "blue", icon: "pulse" },
        RunStatus::Completed => Badge { value: "completed", label: "Completed", color: "neutral", icon: "dot" },
    }
}

/// A queued run whose approval is pending (SPEC §10.2), shown in its status's place.
pub const AWAITING_APPROVAL: Badge =
    Badge { value: "awaiting_approval", label: "Awaiting approval", color: "teal", icon: "hourglass" };

/// The status badge a run is displayed with: its status, except that a queued
/// run awaiting approval shows as "Awaiting approval" (`data-status="awaiting_approval"`).
pub fn run_status_badge(status: RunStatus, approval: Option<&Approval>) -> Badge {
    if approval::is_awaiting(status, approval) {
        AWAITING_APPROVAL
    } else {
        status_badge(status)
    }
}

pub fn outcome_badge(outcome: RunOutcome) -> Badge {
    match outcome {
        RunOutcome::Pending => Badge { value: "pending", label: "Pending", color: "grey", icon: "clock" },
        RunOutcome::Succeeded => Badge { value: "succeeded", label: "Succeeded", color: "green", icon: "check" },
        RunOutcome::PartiallySucceeded => {
            Badge { value: "partially_succeeded", label: "Partially succeeded", color: "amber", icon: "half" }
        }
        RunOutcome::Failed => Badge { value: "failed", label: "Failed", color: "red", icon: "cross" },
        RunOutcome::Blocked => Badge { value: "blocked", label: "Blocked", color: "indigo", icon: "shield" },
        RunOutcome::Cancelled => Badge { value: "cancelled", label: "Cancelled", color: "slate", icon: "slash" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_spec_and_blocked_is_not_failed() {
        let labels: Vec<_> = RunOutcome::ALL.iter().map(|o| outcome_badge(*o).label).collect();
        assert_eq!(labels, ["Pending", "Succeeded", "Partially succeeded", "Failed", "Blocked", "Cancelled"]);
        assert_ne!(outcome_badge(RunOutcome::Blocked).color, outcome_badge(RunOutcome::Failed).color);
        for o in RunOutcome::ALL {
            assert_eq!(outcome_badge(*o).value, o.as_str());
        }
        for s in RunStatus::ALL {
            assert_eq!(status_badge(*s).value, s.as_str());
        }
    }

    #[test]
    fn awaiting_approval_is_a_queued_run_with_a_pending_approval_and_its_own_color() {
        let pending = Approval::pending();
        assert_eq!(run_status_badge(RunStatus::Queued, Some(&pending)), AWAITING_APPROVAL);
        assert_eq!(AWAITING_APPROVAL.value, "awaiting_approval");
        assert_eq!(AWAITING_APPROVAL.label, "Awaiting approval");
        let approved = Approval { state: crate::approval::ApprovalState::Approved, ..pending.clone() };
        assert_eq!(run_status_badge(RunStatus::Queued, Some(&approved)), status_badge(RunStatus::Queued));
        assert_eq!(run_status_badge(RunStatus::Queued, None), status_badge(RunStatus::Queued));
        // A pending record on a run that is no longer queued is not shown as waiting.
        for s in [RunStatus::Running, RunStatus::Completed] {
            assert_eq!(run_status_badge(s, Some(&pending)), status_badge(s));
        }
        let others = RunStatus::ALL.iter().map(|s| status_badge(*s));
        let others = others.chain(RunOutcome::ALL.iter().map(|o| outcome_badge(*o)));
        for b in others {
            assert_ne!(b.color, AWAITING_APPROVAL.color, "{}", b.value);
            assert_ne!(b.value, AWAITING_APPROVAL.value);
        }
    }
}
