//! The cron scheduler: fires each enabled schedule's slots through the same
//! path as `atlas schedules fire`. Every `atlas serve` and `atlas worker` node
//! runs one; the `schedule_fires` unique key makes a slot fire once however
//! many nodes see it. Only the latest due slot is fired, so after downtime a
//! schedule catches up with one run, not a burst.

use std::time::Duration;

use atlas_core::Timestamp;
use atlas_store::schedule::Fired;
use atlas_store::Store;
use tracing::{debug, warn};

use crate::schedule::{fire, CronSpec, CronSyntax};
use crate::service::ServiceError;

/// How a node's scheduler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// How often slots are looked for.
    pub tick: Duration,
    /// Attempts of each run a slot starts.
    pub max_attempts: u32,
    /// Which cron expressions stored schedules may use.
    pub cron: CronSyntax,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            tick: SchedulerConfig::DEFAULT_TICK,
            max_attempts: atlas_core::run::DEFAULT_MAX_ATTEMPTS,
            cron: CronSyntax::default(),
        }
    }
}

impl SchedulerConfig {
    pub const DEFAULT_TICK: Duration = Duration::from_secs(10);
    /// Ticks closer than this would only load the database.
    pub const MIN_TICK: Duration = Duration::from_millis(10);
}

#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    config: SchedulerConfig,
}

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    pub fired: u64,
    pub already_fired: u64,
    pub refused: u64,
}

impl Scheduler {
    pub fn new(store: Store, config: SchedulerConfig) -> Scheduler {
        let config = SchedulerConfig { tick: config.tick.max(SchedulerConfig::MIN_TICK), ..config };
        Scheduler { store, config }
    }

    /// Fires every enabled schedule's latest slot at or before `now` that has
    /// not fired yet (and is not older than the schedule).
    pub async fn tick_at(&self, now: Timestamp) -> Result<TickReport, ServiceError> {
        let mut report = TickReport::default();
        for schedule in self.store.schedule_list(None).await?.into_iter().filter(|s| s.enabled) {
            let spec = match CronSpec::parse(&schedule.cron, &schedule.timezone, self.config.cron) {
                Ok(spec) => spec,
                Err(e) => {
                    warn!(schedule = %schedule.id, "unusable schedule: {e}");
                    continue;
                }
            };
            let Some(slot) = spec.slot_at_or_before(now) else { continue };
            if slot < schedule.created_at {
                continue;
            }
            if self.store.schedule_last_slot(schedule.id).await?.is_some_and(|last| last >= slot) {
                continue;
            }
            match fire(&self.store, &schedule, slot, self.config.max_attempts).await {
                Ok(Fired::Run(_)) => report.fired += 1,
                Ok(Fired::AlreadyFired(_)) => report.already_fired += 1,
                Err(ServiceError::Denied(d)) => {
                    debug!(schedule = %schedule.id, reason = ?d.reason_code, "slot refused: {}", d.message);
                    report.refused += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Ticks until `stop` resolves.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.tick_at(atlas_store::now()).await {
                warn!(error = %e, "scheduler tick failed");
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(self.config.tick) => {}
            }
        }
    }
}
