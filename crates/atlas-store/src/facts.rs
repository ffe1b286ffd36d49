//! Loading the facts the legitimacy gate reads, inside the caller's
//! transaction, for a whole claimed batch at once: one query per fact table
//! (users, memberships, custom roles, tenants, connections, schedules, backup
//! sets — only those some run needs), whatever the number of runs, tenants or
//! members. Each run's `Facts` are then picked out of the set on their own.
//!
//! At claim time (`lock = true`) PostgreSQL takes `FOR SHARE` on every fact
//! row read, so a concurrent revocation waits for the claim's commit and is
//! ordered before the start (seen here) or after it (caught between items).
//! SQLite's single writer gives the same ordering. Rows are locked in key
//! order, after the runs (lock order everywhere: run → facts).

use std::collections::{HashMap, HashSet};

use atlas_core::approval::{ApprovalFacts, ApproverFact};
use atlas_core::capability::{BuiltinRole, Role};
use atlas_core::gate::{
    Authority, CheckedContext, ConnectionFact, Facts, InitiatorFact, MembershipFact, ScheduleFact, TenantFact,
};
use atlas_core::run::Run;
use atlas_core::tenant::{ConnectionKind, ConnectionStatus, TenantScope, TenantStatus};
use uuid::Uuid;

use crate::admin::parse_caps;
use crate::multirow::{fetch, text, Kind, Rows};
use crate::row::{parse, uuid};
use crate::{StoreError, StoreResult, Tx};

const ONE_KEY: &[(&str, Kind)] = &[("k", Kind::Text)];
const TWO_KEYS: &[(&str, Kind)] = &[("k1", Kind::Text), ("k2", Kind::Text)];

/// A fact row that exists but cannot be read: the runs that need it get a
/// retryable `evaluation_unavailable`, the others are unaffected.
type Readable<T> = Result<T, String>;

/// The facts of a batch of contexts, by key.
#[derive(Default)]
pub(crate) struct FactSet {
    users: HashMap<Uuid, InitiatorFact>,
    memberships: HashMap<(Uuid, Uuid), Readable<MembershipFact>>,
    /// Tenant id → (workspace id, fact).
    tenants: HashMap<Uuid, (Uuid, Readable<TenantFact>)>,
    /// Tenant id → (kind, if known; fact).
    connections: HashMap<Uuid, (Option<ConnectionKind>, Readable<ConnectionFact>)>,
    /// Schedule id → (workspace id, fact).
    schedules: HashMap<Uuid, (Uuid, ScheduleFact)>,
    /// (backup set id, tenant id as stored).
    backup_sets: HashSet<(String, String)>,
    /// The loaded tenants whose `approval_required` is set.
    approval_required: HashSet<Uuid>,
}

impl FactSet {
    /// One run's facts, exactly as if loaded for it alone; `Err` names a fact
    /// row that could not be read. The approval facts come from the run's
    /// record and its approver as they stand now (SPEC §10.2).
    /// `run` is `None` for a run not yet made (a schedule slot's).
    pub(crate) fn facts(&self, ctx: &CheckedContext, run: Option<&Run>, validity_ms: i64) -> Result<Facts, String> {
        let mut facts = Facts::default();
        let record = run.and_then(|r| r.approval.as_ref());
        facts.approval = ApprovalFacts {
            required_by: run_tenants(ctx).into_iter().filter(|t| self.approval_required.contains(t)).collect(),
            record: record.cloned(),
            approver: match record.and_then(|a| a.by) {
                None => None,
                Some(by) => match self.users.get(&by) {
                    None => None,
                    Some(user) => Some(ApproverFact {
                        display_name: user.display_name.clone(),
                        disabled: user.disabled,
                        membership: self.memberships.get(&(ctx.workspace_id, by)).cloned().transpose()?,
                    }),
                },
            },
            validity_ms,
            run_started_at: run.and_then(|r| r.started_at),
        };
        match &ctx.authority {
            Authority::Actor { user_id } => {
                facts.initiator = self.users.get(user_id).cloned();
                facts.membership = self.memberships.get(&(ctx.workspace_id, *user_id)).cloned().transpose()?;
            }
            Authority::System { schedule_id, .. } => {
                facts.schedule =
                    self.schedules.get(schedule_id).filter(|(ws, _)| *ws == ctx.workspace_id).map(|(_, s)| s.clone());
            }
        }
        if let Some(tenant_id) = ctx.tenant_id {
            if let Some((_, tenant)) = self.tenants.get(&tenant_id).filter(|(ws, _)| *ws == ctx.workspace_id) {
                facts.tenant = Some(tenant.clone()?);
                facts.connection = self.connections.get(&tenant_id).map(|(_, c)| c.clone()).transpose()?;
            }
        }
        if let Some(set) = backup_set_key(ctx) {
            facts.backup_set_exists = self.backup_sets.contains(&set);
        }
        Ok(facts)
    }

    /// The kind of each loaded tenant's provider connection (the worker picks
    /// the provider from it without reading it again).
    pub(crate) fn connection_kinds(&self) -> HashMap<Uuid, ConnectionKind> {
        self.connections.iter().filter_map(|(t, (kind, _))| kind.map(|k| (*t, k))).collect()
    }
}

/// The run's tenant, or a bulk run's `tenant_ids`.
fn run_tenants(ctx: &CheckedContext) -> Vec<Uuid> {
    match (ctx.tenant_id, ctx.params.bulk()) {
        (Some(t), _) => vec![t],
        (None, Some(b)) => b.tenant_ids.clone(),
        (None, None) => Vec::new(),
    }
}

/// The (workspace, approver) of each run's approval record.
pub(crate) fn approvers<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Vec<(Uuid, Uuid)> {
    runs.into_iter().filter_map(|r| r.approval.as_ref().and_then(|a| a.by).map(|by| (r.workspace_id, by))).collect()
}

fn backup_set_key(ctx: &CheckedContext) -> Option<(String, String)> {
    let set = ctx.params.backup_set_id()?;
    Some((set.to_string(), ctx.tenant_id.map(|t| t.to_string()).unwrap_or_default()))
}

fn keys<K: Eq + std::hash::Hash + Ord>(keys: impl IntoIterator<Item = K>) -> Vec<K> {
    let mut v: Vec<K> = keys.into_iter().collect::<HashSet<_>>().into_iter().collect();
    v.sort();
    v
}

fn one_key(ids: &[Uuid]) -> Rows {
    let mut rows = Rows::new(ONE_KEY);
    for id in ids {
        rows.push([text(id.to_string())]);
    }
    rows
}

/// Loads the facts for one run's checked context (the start path, between items).
pub(crate) async fn load(
    tx: &mut Tx,
    ctx: &CheckedContext,
    run: &Run,
    validity_ms: i64,
    lock: bool,
) -> StoreResult<Facts> {
    let set = load_many(tx, &[ctx], &approvers([run]), lock).await?;
    set.facts(ctx, Some(run), validity_ms).map_err(StoreError::Corrupt)
}

/// Loads the facts for a batch of checked contexts and the approvers of their
/// runs (`approvers`: workspace and user): at most seven queries, approvers
/// read with the initiators.
pub(crate) async fn load_many(
    tx: &mut Tx,
    ctxs: &[&CheckedContext],
    approvers: &[(Uuid, Uuid)],
    lock: bool,
) -> StoreResult<FactSet> {
    let share = if lock && matches!(tx, Tx::Postgres(_)) { " FOR SHARE" } else { "" };
    let mut set = FactSet::default();
    let actors = keys(
        ctxs.iter()
            .filter_map(|c| match c.authority {
                Authority::Actor { user_id } => Some((c.workspace_id, user_id)),
                Authority::System { .. } => None,
            })
            .chain(approvers.iter().copied()),
    );
    if !actors.is_empty() {
        let users = keys(actors.iter().map(|(_, u)| *u));
        let sql =
            format!("SELECT id, display_name, disabled_at FROM users WHERE id IN (SELECT k FROM v) ORDER BY id{share}");
        let found: Vec<(String, String, Option<i64>)> = fetch(tx, one_key(&users), &sql).await?;
        for (id, display_name, disabled_at) in found {
            set.users.insert(uuid(&id)?, InitiatorFact { display_name, disabled: disabled_at.is_some() });
        }
        load_memberships(tx, &mut set, &actors, share).await?;
    }
    let schedules = keys(ctxs.iter().filter_map(|c| match c.authority {
        Authority::System { schedule_id, .. } => Some(schedule_id),
        Authority::Actor { .. } => None,
    }));
    if !schedules.is_empty() {
        let sql = format!(
            "SELECT id, workspace_id, enabled FROM backup_schedules WHERE id IN (SELECT k FROM v) ORDER BY id{share}"
        );
        let found: Vec<(String, String, i64)> = fetch(tx, one_key(&schedules), &sql).await?;
        for (id, ws, enabled) in found {
            set.schedules.insert(uuid(&id)?, (uuid(&ws)?, ScheduleFact { enabled: enabled != 0 }));
        }
    }
    let tenants = keys(ctxs.iter().flat_map(|c| run_tenants(c)));
    if !tenants.is_empty() {
        load_tenants(tx, &mut set, &tenants, share).await?;
    }
    let sets = keys(ctxs.iter().filter_map(|c| backup_set_key(c)));
    if !sets.is_empty() {
        let mut rows = Rows::new(TWO_KEYS);
        for (s, t) in &sets {
            rows.push([text(s.as_str()), text(t.as_str())]);
        }
        let sql = format!(
            "SELECT id, tenant_id FROM backup_sets WHERE (id, tenant_id) IN (SELECT k1, k2 FROM v) ORDER BY id{share}"
        );
        let found: Vec<(String, String)> = fetch(tx, rows, &sql).await?;
        set.backup_sets.extend(found);
    }
    Ok(set)
}

async fn load_memberships(tx: &mut Tx, set: &mut FactSet, actors: &[(Uuid, Uuid)], share: &str) -> StoreResult<()> {
    let mut rows = Rows::new(TWO_KEYS);
    for (ws, user) in actors {
        rows.push([text(ws.to_string()), text(user.to_string())]);
    }
    let sql = format!(
        "SELECT workspace_id, user_id, builtin_role, custom_role_id, tenant_scope FROM memberships \
         WHERE (workspace_id, user_id) IN (SELECT k1, k2 FROM v) ORDER BY workspace_id, user_id{share}"
    );
    type Row = (String, String, Option<String>, Option<String>, String);
    let found: Vec<Row> = fetch(tx, rows, &sql).await?;
    let custom = keys(found.iter().filter(|r| r.2.is_none()).filter_map(|r| r.3.clone()));
    let mut roles: HashMap<String, Readable<Role>> = HashMap::new();
    if !custom.is_empty() {
        let mut rows = Rows::new(ONE_KEY);
        for id in &custom {
            rows.push([text(id.as_str())]);
        }
        let sql =
            format!("SELECT id, name, capabilities FROM custom_roles WHERE id IN (SELECT k FROM v) ORDER BY id{share}");
        let found: Vec<(String, String, String)> = fetch(tx, rows, &sql).await?;
        for (id, name, caps) in found {
            let role = parse_caps(&caps).map(|capabilities| Role::Custom { name, capabilities });
            roles.insert(id, role.map_err(|e| e.to_string()));
        }
    }
    for (ws, user, builtin, custom_id, scope) in found {
        let role: Readable<Option<Role>> = match (builtin, custom_id) {
            (Some(b), _) => {
                parse(&b, "role", BuiltinRole::parse).map(|r| Some(Role::Builtin(r))).map_err(|e| e.to_string())
            }
            (None, Some(id)) => roles.get(&id).cloned().transpose(),
            (None, None) => Ok(None),
        };
        // A membership whose role cannot be found grants nothing.
        let fact = role.map(|role| MembershipFact {
            role: role.unwrap_or(Role::Custom { name: String::new(), capabilities: Default::default() }),
            scope: TenantScope::from_db(&scope),
        });
        set.memberships.insert((uuid(&ws)?, uuid(&user)?), fact);
    }
    Ok(())
}

async fn load_tenants(tx: &mut Tx, set: &mut FactSet, tenants: &[Uuid], share: &str) -> StoreResult<()> {
    let sql = format!(
        "SELECT id, workspace_id, name, status, writes_enabled, approval_required FROM tenants \
         WHERE id IN (SELECT k FROM v) ORDER BY id{share}"
    );
    let found: Vec<(String, String, String, String, i64, i64)> = fetch(tx, one_key(tenants), &sql).await?;
    let mut present = Vec::with_capacity(found.len());
    for (id, ws, name, status, writes, approval) in found {
        let id = uuid(&id)?;
        if approval != 0 {
            set.approval_required.insert(id);
        }
        let fact = parse(&status, "tenant status", TenantStatus::parse)
            .map(|status| TenantFact { id, name, status, writes_enabled: writes != 0 })
            .map_err(|e| e.to_string());
        set.tenants.insert(id, (uuid(&ws)?, fact));
        present.push(id);
    }
    if present.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT tenant_id, kind, status FROM provider_connections WHERE tenant_id IN (SELECT k FROM v) \
         ORDER BY tenant_id{share}"
    );
    let found: Vec<(String, String, String)> = fetch(tx, one_key(&present), &sql).await?;
    for (tenant, kind, status) in found {
        let fact = parse(&status, "connection status", ConnectionStatus::parse)
            .map(|status| ConnectionFact { status })
            .map_err(|e| e.to_string());
        // An unknown kind is the provider's business (the worker reads it again).
        set.connections.insert(uuid(&tenant)?, (ConnectionKind::parse(&kind), fact));
    }
    Ok(())
}
