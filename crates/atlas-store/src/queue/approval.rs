//! Multi-admin approval in the queue (SPEC §10.2): a start on a tenant that
//! requires approval inserts the run `pending` with `operation.approval_requested`
//! and one notification per eligible approver; an approval writes the record;
//! a rejection writes it and completes the run blocked `approval_rejected`.
//! Who may decide is `atlas_core::approval`'s rule; every run write here goes
//! through the one transition writer.

use std::collections::BTreeSet;

use atlas_core::access::Viewer;
use atlas_core::approval::{self, Approval, ApprovalFacts, Member, Verdict};
use atlas_core::audit::AuditDraft;
use atlas_core::gate::evaluate;
use atlas_core::run::{Run, RunEvent};
use uuid::Uuid;

use crate::admin::member::{MembershipRow, MEMBERSHIP_SELECT};
use crate::audit::append;
use crate::complete::{write_transitions, Transition};
use crate::multirow::{fetch, text, Kind, Rows};
use crate::notification::{notify, Notice};
use crate::run::lock_run;
use crate::{facts, on_tx, Store, StoreError, StoreResult, Tx};

/// Marks a run being started `pending` when one of its tenants requires
/// approval now and it writes (`approval::needs_request`); returns the
/// `operation.approval_requested` event to append once it is inserted.
pub(crate) async fn request(tx: &mut Tx, run: &mut Run) -> StoreResult<Option<AuditDraft>> {
    let Ok(checked) = run.execution_context().check() else { return Ok(None) };
    if !checked.writes {
        return Ok(None);
    }
    let tenants: Vec<Uuid> = match (checked.tenant_id, checked.params.bulk()) {
        (Some(t), _) => vec![t],
        (None, Some(b)) => b.tenant_ids.clone(),
        (None, None) => Vec::new(),
    };
    if tenants.is_empty() {
        return Ok(None);
    }
    let mut keys = Rows::new(&[("id", Kind::Text)]);
    for t in &tenants {
        keys.push([text(t.to_string())]);
    }
    let found: Vec<(String,)> =
        fetch(tx, keys, "SELECT id FROM tenants WHERE id IN (SELECT id FROM v) AND approval_required <> 0").await?;
    let required_by: BTreeSet<Uuid> = found.iter().filter_map(|(id,)| Uuid::parse_str(id).ok()).collect();
    let facts = ApprovalFacts { required_by, ..ApprovalFacts::default() };
    if !approval::needs_request(&checked, &facts) {
        return Ok(None);
    }
    let pending = Approval::pending();
    run.approval = Some(pending.clone());
    Ok(Some(approval::audit(run, &pending)))
}

/// After a pending run's insert: its request event, and a notification to
/// each member who could approve it now.
pub(crate) async fn announce(tx: &mut Tx, run: &Run, audit: &AuditDraft) -> StoreResult<()> {
    append(tx, audit, run.created_at).await?;
    let members = members(tx, run.workspace_id).await?;
    let approvers = approval::eligible_approvers(run, &members);
    notify(tx, &[Notice::ApprovalRequested(run, &approvers)], run.created_at).await
}

/// The workspace's members as the approval rule sees them.
async fn members(tx: &mut Tx, workspace_id: Uuid) -> StoreResult<Vec<Member>> {
    let sql = format!("{MEMBERSHIP_SELECT} WHERE m.workspace_id = $1 ORDER BY m.id");
    let rows: Vec<MembershipRow> =
        on_tx!(tx, |c| sqlx::query_as(&sql).bind(workspace_id.to_string()).fetch_all(c).await)?;
    let disabled: Vec<(String,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id \
         WHERE m.workspace_id = $1 AND u.disabled_at IS NOT NULL"
    )
    .bind(workspace_id.to_string())
    .fetch_all(c)
    .await)?;
    let disabled: BTreeSet<String> = disabled.into_iter().map(|(id,)| id).collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        // A membership whose role cannot be read approves nothing.
        let Ok(m) = row.into_domain() else { continue };
        let viewer = Viewer { user_id: m.user_id, role: m.role, scope: m.tenant_scope };
        out.push(Member { disabled: disabled.contains(&m.user_id.to_string()), viewer });
    }
    Ok(out)
}

/// One member of the run's workspace, as they stand now (`None`: not a member).
async fn member(tx: &mut Tx, workspace_id: Uuid, user_id: Uuid) -> StoreResult<Option<Member>> {
    let sql = format!("{MEMBERSHIP_SELECT} WHERE m.workspace_id = $1 AND m.user_id = $2");
    let row: Option<MembershipRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(workspace_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(c)
        .await)?;
    let Some(m) = row.map(MembershipRow::into_domain).transpose()? else { return Ok(None) };
    let user: Option<(Option<i64>,)> = on_tx!(tx, |c| sqlx::query_as("SELECT disabled_at FROM users WHERE id = $1")
        .bind(user_id.to_string())
        .fetch_optional(c)
        .await)?;
    let Some((disabled_at,)) = user else { return Ok(None) };
    let viewer = Viewer { user_id, role: m.role, scope: m.tenant_scope };
    Ok(Some(Member { viewer, disabled: disabled_at.is_some() }))
}

impl Store {
    /// Approves a run awaiting approval as `user_id` (`runs approve`). Refused
    /// with `StoreError::Approval` (nothing changed) by `approval::decide`.
    pub async fn run_approve(&self, run_id: Uuid, user_id: Uuid) -> StoreResult<Run> {
        self.run_decide_approval(run_id, user_id, Verdict::Approve).await
    }

    /// Rejects a run awaiting approval (`runs reject`): it completes blocked
    /// `approval_rejected`, and its initiator is notified as for any run.
    pub async fn run_reject(&self, run_id: Uuid, user_id: Uuid, reason: Option<String>) -> StoreResult<Run> {
        self.run_decide_approval(run_id, user_id, Verdict::Reject { reason }).await
    }

    async fn run_decide_approval(&self, run_id: Uuid, user_id: Uuid, verdict: Verdict) -> StoreResult<Run> {
        let mut tx = self.begin().await?;
        let run = lock_run(&mut tx, run_id).await?;
        let now = crate::now();
        let who = member(&mut tx, run.workspace_id, user_id).await?;
        let record = approval::decide(who.as_ref(), &run, run.approval.as_ref(), &verdict, now)?;
        let event = match verdict {
            Verdict::Approve => None,
            Verdict::Reject { .. } => {
                // The block's decision is the gate's, against the rejected record.
                let decided = Run { approval: Some(record.clone()), ..run.clone() };
                let ctx = decided.execution_context();
                let facts = match ctx.check() {
                    Ok(checked) => facts::load(&mut tx, &checked, &decided, self.approval_validity_ms(), true).await?,
                    Err(_) => Default::default(),
                };
                let decision = evaluate(&ctx, &facts, now, run.attempt + 1);
                if decision.allowed {
                    return Err(StoreError::Corrupt(format!("run {run_id}: the gate allowed a rejected run")));
                }
                Some(RunEvent::Block { decision, counts: None })
            }
        };
        let rejected = event.is_some();
        let (t, decision_audit) = Transition::approval(&run, record, event, now)?;
        if rejected {
            // `operation.rejected` before the block it causes.
            append(&mut tx, &decision_audit, now).await?;
        }
        if !write_transitions(&mut tx, [&t], now).await?.contains(&run_id) {
            return Err(StoreError::Fenced);
        }
        tx.commit().await?;
        Ok(t.after)
    }
}
