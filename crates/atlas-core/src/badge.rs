//! The one badge mapping (SPEC §6.2): value → label and color. Blocked is a
//! policy refusal and never shares failed's color.

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
}
