//! How a run is named and how its end is told, in words: one place for the
//! console, the CLI and notifications, so a dry-run restore reads as
//! "Restore preview" everywhere and never as a restore that wrote.

use serde_json::Value;

use crate::badge::outcome_badge;
use crate::operation::OperationType;
use crate::params::OperationParams;
use crate::run::{Run, RunOutcome};

/// The human label of an operation with these parameters: "Inventory sync",
/// "Restore preview" (a dry run), "Bulk inventory sync".
/// Parameters that do not validate get the type's label.
pub fn label(op_type: OperationType, params: &Value) -> String {
    match OperationParams::parse(op_type, params) {
        Ok(p) if is_preview(&p) => "Restore preview".to_owned(),
        Ok(OperationParams::BulkOperation(b)) => format!("Bulk {}", b.operation.spec().label.to_lowercase()),
        _ => op_type.spec().label.to_owned(),
    }
}

/// A restore that only plans (`dry_run: true`).
fn is_preview(params: &OperationParams) -> bool {
    matches!(params, OperationParams::RestoreExecute(p) if p.dry_run)
}

/// What a restore preview found: objects it would create, update, or leave as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanCounts {
    pub create: u64,
    pub update: u64,
    pub unchanged: u64,
}

impl PlanCounts {
    /// "Would create 2, update 3 and leave 23 unchanged."
    pub fn sentence(self) -> String {
        format!("Would create {}, update {} and leave {} unchanged.", self.create, self.update, self.unchanged)
    }
}

/// The plan of a completed restore preview (`result.plan_summary`).
pub fn plan_counts(run: &Run) -> Option<PlanCounts> {
    if !run.operation_params().is_ok_and(|p| is_preview(&p)) {
        return None;
    }
    let summary = run.result.get("plan_summary")?;
    let n = |k: &str| summary.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(PlanCounts { create: n("create"), update: n("update"), unchanged: n("unchanged") })
}

/// "succeeded", "was blocked", … — how a sentence ends for an outcome.
pub fn outcome_verb(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Succeeded => "succeeded",
        RunOutcome::PartiallySucceeded => "partially succeeded",
        RunOutcome::Failed => "failed",
        RunOutcome::Blocked => "was blocked",
        RunOutcome::Cancelled => "was cancelled",
        RunOutcome::Pending => "is pending",
    }
}

/// The title and the one sentence that announce a completed run:
/// ("Restore on Contoso North was blocked", "The write gate of Contoso North is closed.").
pub fn completion(run: &Run, tenant_name: Option<&str>) -> (String, String) {
    let label = label(run.op_type, &run.params);
    let subject = tenant_name.map_or_else(|| label.clone(), |t| format!("{label} on {t}"));
    let title = format!("{subject} {}", outcome_verb(run.outcome));
    let body = match run.outcome {
        RunOutcome::Blocked => run.decision.as_ref().map_or_else(String::new, |d| d.message.clone()),
        RunOutcome::Failed => run.failures.last().map_or_else(String::new, |f| f.message.clone()),
        _ => match plan_counts(run) {
            Some(plan) => plan.sentence(),
            None => {
                let c = &run.summary_counts;
                format!(
                    "{}: {} processed, {} succeeded, {} failed.",
                    outcome_badge(run.outcome).label,
                    c.processed,
                    c.succeeded,
                    c.failed
                )
            }
        },
    };
    (title, body)
}

/// "3 changes since the backup of 2 Dec" (the day in UTC; the year when it
/// is not `now`'s): how a kept drift check reads on the tenant page, the
/// fleet overview and the terminal.
pub fn drift_sentence(changes: i64, backup_at: crate::Timestamp, now: crate::Timestamp) -> String {
    let (at, today) = (backup_at.to_offset_date_time(), now.to_offset_date_time());
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS[usize::from(u8::from(at.month())) - 1];
    let day = if at.year() == today.year() {
        format!("{} {month}", at.day())
    } else {
        format!("{} {month} {}", at.day(), at.year())
    };
    match changes {
        0 => format!("No changes since the backup of {day}"),
        1 => format!("1 change since the backup of {day}"),
        n => format!("{n} changes since the backup of {day}"),
    }
}

/// The title and sentence of an `approval_requested` notification:
/// ("Restore on Contoso North awaits your approval", "Another member started it; …").
pub fn approval_requested(run: &Run, tenant_name: Option<&str>) -> (String, String) {
    let label = label(run.op_type, &run.params);
    let subject = tenant_name.map_or_else(|| label.clone(), |t| format!("{label} on {t}"));
    let title = format!("{subject} awaits your approval");
    let body = "It will not run until another member approves it; open it to approve or reject.".to_owned();
    (title, body)
}

#[cfg(test)]
mod tests {

    #[test]
    fn drift_reads_as_changes_since_a_backup_day() {
        let at = |s: &str| crate::Timestamp::parse_rfc3339(s).unwrap_or_default();
        let now = at("2026-12-03T17:00:00Z");
        assert_eq!(drift_sentence(3, at("2026-12-02T23:59:00Z"), now), "3 changes since the backup of 2 Dec");
        assert_eq!(drift_sentence(1, at("2026-01-15T08:00:00Z"), now), "1 change since the backup of 15 Jan");
        assert_eq!(drift_sentence(0, at("2025-11-30T08:00:00Z"), now), "No changes since the backup of 30 Nov 2025");
    }
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::gate::Authority;
    use crate::run::NewRun;
    use crate::Timestamp;

    fn run(op_type: OperationType, params: Value) -> Run {
        let new = NewRun {
            op_type,
            workspace_id: Uuid::nil(),
            tenant_id: Some(Uuid::nil()),
            authority: Authority::Actor { user_id: Uuid::nil() },
            params,
            retry_of_run_id: None,
            max_attempts: 3,
        };
        Run::queued(new, Uuid::nil(), Timestamp(0)).0
    }

    #[test]
    fn a_dry_run_restore_is_a_preview_everywhere() {
        let set = Uuid::nil().to_string();
        assert_eq!(
            label(OperationType::RestoreExecute, &json!({"backup_set_id": set, "dry_run": true})),
            "Restore preview"
        );
        assert_eq!(label(OperationType::RestoreExecute, &json!({"backup_set_id": set, "dry_run": false})), "Restore");
        assert_eq!(
            label(OperationType::BulkOperation, &json!({"operation": "inventory.sync", "tenant_ids": []})),
            "Bulk inventory sync"
        );
        assert_eq!(label(OperationType::InventorySync, &json!({})), "Inventory sync");

        let mut preview = run(OperationType::RestoreExecute, json!({"backup_set_id": set, "dry_run": true}));
        preview.outcome = RunOutcome::Succeeded;
        preview.result = json!({"plan_summary": {"create": 2, "update": 3, "unchanged": 23}});
        let (title, body) = completion(&preview, Some("Contoso North"));
        assert_eq!(title, "Restore preview on Contoso North succeeded");
        assert_eq!(body, "Would create 2, update 3 and leave 23 unchanged.");
        assert_eq!(plan_counts(&preview), Some(PlanCounts { create: 2, update: 3, unchanged: 23 }));
        let real = run(OperationType::RestoreExecute, json!({"backup_set_id": set, "dry_run": false}));
        assert_eq!(plan_counts(&real), None);
    }
}
