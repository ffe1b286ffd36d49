//! Schedules: validating a cron expression and zone, and firing a slot — the
//! single entry point that `atlas schedules fire`, "Run now" and the cron loop
//! share. A slot's run has system authority (the schedule, not its creator)
//! and is authorized by the same gate as any start.

use std::str::FromStr;

use atlas_core::gate::Authority;
use atlas_core::run::NewRun;
use atlas_core::{OperationType, Timestamp};
use atlas_store::schedule::{Fired, Schedule};
use atlas_store::start::Started;
use atlas_store::Store;
use chrono::{TimeZone, Utc};
use croner::Cron;
use serde_json::json;
use uuid::Uuid;

use crate::service::ServiceError;

/// Which cron expressions a node accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CronSyntax {
    /// Five fields: minute hour day-of-month month day-of-week.
    #[default]
    Standard,
    /// Also six, with a leading seconds field (tests only, so that scheduler
    /// tests need not wait for minutes).
    WithSeconds,
}

/// A parsed, validated schedule expression in its zone.
pub struct CronSpec {
    cron: Cron,
    tz: chrono_tz::Tz,
}

impl CronSpec {
    /// Five fields (six with `CronSyntax::WithSeconds`) and an IANA zone.
    pub fn parse(expr: &str, tz: &str, syntax: CronSyntax) -> Result<CronSpec, String> {
        let fields = expr.split_whitespace().count();
        let seconds = fields == 6 && syntax == CronSyntax::WithSeconds;
        if fields != 5 && !seconds {
            return Err(format!("cron expression `{expr}` must have 5 fields, not {fields}"));
        }
        // Field counts are checked above; croner reads a sixth field as seconds.
        let cron = Cron::from_str(expr).map_err(|e| format!("invalid cron expression `{expr}`: {e}"))?;
        let tz = tz.parse::<chrono_tz::Tz>().map_err(|_| format!("unknown time zone `{tz}`"))?;
        Ok(CronSpec { cron, tz })
    }

    /// The latest slot at or before `at`, if any.
    pub fn slot_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        // Slots are whole seconds: a sub-second instant would match itself.
        let whole = at.micros().div_euclid(1_000_000) * 1_000_000;
        let t = Utc.timestamp_micros(whole).single()?.with_timezone(&self.tz);
        let prev = self.cron.find_previous_occurrence(&t, true).ok()?;
        Some(Timestamp::from_micros(prev.timestamp_micros()))
    }

    /// A slot as the schedule's zone reads it: "2026-12-04 02:00 CET".
    pub fn in_zone(&self, at: Timestamp) -> Option<String> {
        let t = Utc.timestamp_micros(at.micros()).single()?.with_timezone(&self.tz);
        Some(t.format("%Y-%m-%d %H:%M %Z").to_string())
    }

    /// The first slot strictly after `at`.
    pub fn next_slot_after(&self, at: Timestamp) -> Option<Timestamp> {
        let t = Utc.timestamp_micros(at.micros()).single()?.with_timezone(&self.tz);
        let next = self.cron.find_next_occurrence(&t, false).ok()?;
        Some(Timestamp::from_micros(next.timestamp_micros()))
    }
}

/// Fires a schedule's slot: at most one run per (schedule, slot).
pub async fn fire(
    store: &Store,
    schedule: &Schedule,
    slot: Timestamp,
    max_attempts: u32,
) -> Result<Fired, ServiceError> {
    fire_as(store, schedule, slot, OperationType::BackupRun, max_attempts).await
}

/// `fire` with another system-allowlisted type (tests exercise the system path
/// with it; the gate refuses a type that is not allowlisted).
pub async fn fire_as(
    store: &Store,
    schedule: &Schedule,
    slot: Timestamp,
    op_type: OperationType,
    max_attempts: u32,
) -> Result<Fired, ServiceError> {
    let new = NewRun {
        op_type,
        workspace_id: schedule.workspace_id,
        tenant_id: Some(schedule.tenant_id),
        authority: Authority::schedule(schedule.id, slot),
        params: json!({}),
        retry_of_run_id: None,
        max_attempts,
    };
    let (run, audit) = atlas_core::run::Run::queued(new, Uuid::now_v7(), atlas_store::now());
    match store.schedule_fire(schedule.id, slot, &run, &audit).await? {
        Started::Queued(fired) => Ok(fired),
        Started::Refused(decision) => Err(ServiceError::Denied(decision)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_and_a_real_zone_are_required() {
        let parse = |expr: &str, tz: &str| CronSpec::parse(expr, tz, CronSyntax::Standard);
        assert!(parse("0 2 * * *", "UTC").is_ok());
        assert!(parse("0 2 * * *", "Europe/Berlin").is_ok());
        assert!(parse("0 2 * *", "UTC").is_err());
        assert!(parse("0 0 2 * * *", "UTC").is_err());
        assert!(parse("99 2 * * *", "UTC").is_err());
        assert!(parse("0 2 * * *", "Mars/Olympus").is_err());
        assert!(CronSpec::parse("0 0 2 * * *", "UTC", CronSyntax::WithSeconds).is_ok(), "seconds when allowed");
        assert!(CronSpec::parse("0 2 * *", "UTC", CronSyntax::WithSeconds).is_err());
    }

    #[test]
    fn slots_step_through_the_zone() {
        let spec = CronSpec::parse("30 2 * * *", "UTC", CronSyntax::Standard).unwrap_or_else(|e| panic!("{e}"));
        let at = Timestamp::parse_rfc3339("2026-11-26T10:00:00Z").unwrap_or_default();
        let prev = spec.slot_at_or_before(at).map(|t| t.to_rfc3339());
        assert_eq!(prev.as_deref(), Some("2026-11-26T02:30:00Z"));
        let next = spec.next_slot_after(at).map(|t| t.to_rfc3339());
        assert_eq!(next.as_deref(), Some("2026-11-27T02:30:00Z"));
    }
}
