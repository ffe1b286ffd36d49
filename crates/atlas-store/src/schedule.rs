//! Backup schedules (they belong to the workspace and run with system
//! authority) and their fired slots: `schedule_fires(schedule_id, slot)` is a
//! unique key, so a slot makes exactly one run however many nodes fire it.

use atlas_core::audit::AuditDraft;
use atlas_core::run::Run;
use atlas_core::value::{CronExpr, TimeZone};
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::admin::ChangeBy;
use crate::audit::append;
use crate::row::uuid;
use crate::run::{insert_in_tx, Inserted};
use crate::start::{refusal, Started};
use crate::{exec, on_db, on_tx, Store, StoreError, StoreResult};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub tenant_id: Uuid,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub created_by: String,
    pub last_changed_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    id: String,
    workspace_id: String,
    tenant_id: String,
    cron: String,
    timezone: String,
    enabled: i64,
    created_by: String,
    last_changed_by: String,
    created_at: i64,
    updated_at: i64,
}

impl ScheduleRow {
    fn into_domain(self) -> StoreResult<Schedule> {
        Ok(Schedule {
            id: uuid(&self.id)?,
            workspace_id: uuid(&self.workspace_id)?,
            tenant_id: uuid(&self.tenant_id)?,
            cron: self.cron,
            timezone: self.timezone,
            enabled: self.enabled != 0,
            created_by: self.created_by,
            last_changed_by: self.last_changed_by,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

const SCHEDULE_SELECT: &str = "SELECT id, workspace_id, tenant_id, cron, timezone, enabled, created_by, \
     last_changed_by, created_at, updated_at FROM backup_schedules";

/// What firing a slot did.
#[derive(Clone, Debug, PartialEq)]
pub enum Fired {
    /// The slot's run (new, or the active backup it deduplicated to).
    Run(Box<Inserted>),
    /// The slot had already fired; its run id, if it made one.
    AlreadyFired(Option<Uuid>),
}

impl Store {
    /// Adds a schedule. The zone is checked here; the cron expression's
    /// fields by the caller (`CronSpec::parse`, which knows whether tests
    /// allow a seconds field), its text here.
    pub async fn schedule_add(
        &self,
        tenant_id: Uuid,
        cron: &str,
        timezone: &str,
        by: &ChangeBy,
    ) -> StoreResult<Schedule> {
        crate::admin::valid(atlas_core::value::check_line(CronExpr::FIELD, cron, CronExpr::MAX_LEN))?;
        crate::admin::valid(TimeZone::parse(timezone))?;
        let tenant = self.tenant_get(tenant_id).await?;
        let at = crate::now();
        let s = Schedule {
            id: Uuid::now_v7(),
            workspace_id: tenant.workspace_id,
            tenant_id,
            cron: cron.to_owned(),
            timezone: timezone.to_owned(),
            enabled: true,
            created_by: by.actor.to_db(),
            last_changed_by: by.actor.to_db(),
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO backup_schedules (id, workspace_id, tenant_id, cron, timezone, enabled, created_by, \
             last_changed_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7, $7)"
            )
            .bind(s.id.to_string())
            .bind(s.workspace_id.to_string())
            .bind(tenant_id.to_string())
            .bind(&s.cron)
            .bind(&s.timezone)
            .bind(&s.created_by)
            .bind(at.0)
        )?;
        let draft = by.draft(
            "schedule.created",
            Some(s.workspace_id),
            Some(tenant_id),
            format!("schedule:{}", s.id),
            json!({"cron": s.cron, "timezone": s.timezone, "enabled": true}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Enables or disables a schedule; a queued run of a disabled schedule is blocked.
    pub async fn schedule_set_enabled(&self, id: Uuid, enabled: bool, by: &ChangeBy) -> StoreResult<Schedule> {
        let before = self.schedule_get(id).await?;
        if before.enabled == enabled {
            return Ok(before);
        }
        let at = crate::now();
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "UPDATE backup_schedules SET enabled = $1, last_changed_by = $2, updated_at = $3 WHERE id = $4"
            )
            .bind(i64::from(enabled))
            .bind(by.actor.to_db())
            .bind(at.0)
            .bind(id.to_string())
        )?;
        let action = if enabled { "schedule.enabled" } else { "schedule.disabled" };
        let draft = by.draft(
            action,
            Some(before.workspace_id),
            Some(before.tenant_id),
            format!("schedule:{id}"),
            json!({"enabled": enabled}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        self.schedule_get(id).await
    }

    pub async fn schedule_get(&self, id: Uuid) -> StoreResult<Schedule> {
        let sql = format!("{SCHEDULE_SELECT} WHERE id = $1");
        let row: Option<ScheduleRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("schedule {id}")))?.into_domain()
    }

    /// Schedules of a workspace, or of every workspace.
    pub async fn schedule_list(&self, workspace_id: Option<Uuid>) -> StoreResult<Vec<Schedule>> {
        let rows: Vec<ScheduleRow> = match workspace_id {
            Some(w) => {
                let sql = format!("{SCHEDULE_SELECT} WHERE workspace_id = $1 ORDER BY created_at");
                on_db!(self.db(), |p| sqlx::query_as(&sql).bind(w.to_string()).fetch_all(p).await)?
            }
            None => {
                let sql = format!("{SCHEDULE_SELECT} ORDER BY created_at");
                on_db!(self.db(), |p| sqlx::query_as(&sql).fetch_all(p).await)?
            }
        };
        rows.into_iter().map(ScheduleRow::into_domain).collect()
    }

    /// Decides the slot's run, records the slot and inserts the run, in one
    /// transaction; a refused slot records nothing. A slot fires once.
    pub async fn schedule_fire(
        &self,
        schedule_id: Uuid,
        slot: Timestamp,
        run: &Run,
        audit: &AuditDraft,
    ) -> StoreResult<Started<Fired>> {
        for _ in 0..3 {
            let mut tx = self.begin().await?;
            if let Some(refused) = refusal(&mut tx, run, self.approval_validity_ms()).await? {
                return Ok(Started::Refused(refused));
            }
            let claimed = exec!(
                &mut tx,
                sqlx::query(
                    "INSERT INTO schedule_fires (schedule_id, slot, fired_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (schedule_id, slot) DO NOTHING"
                )
                .bind(schedule_id.to_string())
                .bind(slot.0)
                .bind(crate::now().0)
            )?;
            if claimed == 0 {
                let existing: Option<(Option<String>,)> = on_tx!(&mut tx, |c| sqlx::query_as(
                    "SELECT run_id FROM schedule_fires WHERE schedule_id = $1 AND slot = $2"
                )
                .bind(schedule_id.to_string())
                .bind(slot.0)
                .fetch_optional(c)
                .await)?;
                tx.commit().await?;
                let run_id = existing.and_then(|(r,)| r).map(|r| uuid(&r)).transpose()?;
                return Ok(Started::Queued(Fired::AlreadyFired(run_id)));
            }
            let Some(inserted) = insert_in_tx(&mut tx, run, audit).await? else {
                // Rolls back the slot too, so the next try can claim it.
                continue;
            };
            exec!(
                &mut tx,
                sqlx::query("UPDATE schedule_fires SET run_id = $1 WHERE schedule_id = $2 AND slot = $3")
                    .bind(inserted.run.id.to_string())
                    .bind(schedule_id.to_string())
                    .bind(slot.0)
            )?;
            tx.commit().await?;
            return Ok(Started::Queued(Fired::Run(Box::new(inserted))));
        }
        Err(StoreError::Conflict("the schedule's tenant is changing too fast; try again".into()))
    }

    /// The newest slot a schedule fired, if any (the scheduler's catch-up point).
    pub async fn schedule_last_slot(&self, schedule_id: Uuid) -> StoreResult<Option<Timestamp>> {
        let row: (Option<i64>,) =
            on_db!(self.db(), |p| sqlx::query_as("SELECT MAX(slot) FROM schedule_fires WHERE schedule_id = $1")
                .bind(schedule_id.to_string())
                .fetch_one(p)
                .await)?;
        Ok(row.0.map(Timestamp))
    }

    /// The run of the newest slot a schedule fired, if it made one.
    pub async fn schedule_last_run(&self, schedule_id: Uuid) -> StoreResult<Option<Uuid>> {
        let row: Option<(Option<String>,)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT run_id FROM schedule_fires WHERE schedule_id = $1 ORDER BY slot DESC LIMIT 1"
        )
        .bind(schedule_id.to_string())
        .fetch_optional(p)
        .await)?;
        row.and_then(|(r,)| r).map(|r| crate::row::uuid(&r)).transpose()
    }
}
