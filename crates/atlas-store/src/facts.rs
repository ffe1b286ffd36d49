//! Loading the facts the legitimacy gate reads, inside the caller's
//! transaction. At claim time (`lock = true`) PostgreSQL takes `FOR SHARE` on
//! every fact row read, so a concurrent revocation waits for the claim's commit
//! and is ordered before the start (seen here) or after it (caught between
//! items). SQLite's single writer gives the same ordering.

use atlas_core::capability::{BuiltinRole, Role};
use atlas_core::gate::{
    Authority, CheckedContext, ConnectionFact, Facts, InitiatorFact, MembershipFact, ScheduleFact, TenantFact,
};
use atlas_core::tenant::{ConnectionStatus, TenantScope, TenantStatus};
use uuid::Uuid;

use crate::admin::parse_caps;
use crate::row::parse;
use crate::{on_tx, StoreResult, Tx};

fn share(tx: &Tx, lock: bool) -> &'static str {
    match (tx, lock) {
        (Tx::Postgres(_), true) => " FOR SHARE",
        _ => "",
    }
}

/// Loads the facts for one checked context: at most six small indexed reads.
pub(crate) async fn load(tx: &mut Tx, ctx: &CheckedContext, lock: bool) -> StoreResult<Facts> {
    let share = share(tx, lock);
    let mut facts = Facts::default();
    match &ctx.authority {
        Authority::Actor { user_id } => {
            let uid = user_id.to_string();
            let sql = format!("SELECT display_name, disabled_at FROM users WHERE id = $1{share}");
            let user: Option<(String, Option<i64>)> =
                on_tx!(tx, |c| sqlx::query_as(&sql).bind(&uid).fetch_optional(c).await)?;
            facts.initiator = user.map(|(display_name, disabled_at)| InitiatorFact { display_name, disabled: disabled_at.is_some() });
            let sql = format!(
                "SELECT builtin_role, custom_role_id, tenant_scope FROM memberships \
                 WHERE workspace_id = $1 AND user_id = $2{share}"
            );
            let m: Option<(Option<String>, Option<String>, String)> = on_tx!(tx, |c| sqlx::query_as(&sql)
                .bind(ctx.workspace_id.to_string())
                .bind(&uid)
                .fetch_optional(c)
                .await)?;
            if let Some((builtin, custom_id, scope)) = m {
                let role = match (builtin, custom_id) {
                    (Some(b), _) => Some(Role::Builtin(parse(&b, "role", BuiltinRole::parse)?)),
                    (None, Some(id)) => {
                        let sql = format!("SELECT name, capabilities FROM custom_roles WHERE id = $1{share}");
                        let r: Option<(String, String)> =
                            on_tx!(tx, |c| sqlx::query_as(&sql).bind(&id).fetch_optional(c).await)?;
                        r.map(|(name, caps)| parse_caps(&caps).map(|capabilities| Role::Custom { name, capabilities }))
                            .transpose()?
                    }
                    (None, None) => None,
                };
                // A membership whose role cannot be read grants nothing.
                let role = role.unwrap_or(Role::Custom { name: String::new(), capabilities: Default::default() });
                facts.membership = Some(MembershipFact { role, scope: TenantScope::from_db(&scope) });
            }
        }
        Authority::System { schedule_id, .. } => {
            let sql = format!("SELECT enabled FROM backup_schedules WHERE id = $1 AND workspace_id = $2{share}");
            let s: Option<(i64,)> = on_tx!(tx, |c| sqlx::query_as(&sql)
                .bind(schedule_id.to_string())
                .bind(ctx.workspace_id.to_string())
                .fetch_optional(c)
                .await)?;
            facts.schedule = s.map(|(enabled,)| ScheduleFact { enabled: enabled != 0 });
        }
    }
    if let Some(tenant_id) = ctx.tenant_id {
        load_tenant(tx, &mut facts, ctx.workspace_id, tenant_id, share).await?;
    }
    if let Some(set) = ctx.params.get("backup_set_id").and_then(|v| v.as_str()) {
        let sql = format!("SELECT CAST(1 AS BIGINT) FROM backup_sets WHERE id = $1 AND tenant_id = $2{share}");
        let tenant = ctx.tenant_id.map(|t| t.to_string()).unwrap_or_default();
        let found: Option<(i64,)> =
            on_tx!(tx, |c| sqlx::query_as(&sql).bind(set).bind(&tenant).fetch_optional(c).await)?;
        facts.backup_set_exists = found.is_some();
    }
    Ok(facts)
}

async fn load_tenant(tx: &mut Tx, facts: &mut Facts, workspace_id: Uuid, tenant_id: Uuid, share: &str) -> StoreResult<()> {
    let tid = tenant_id.to_string();
    let sql = format!("SELECT name, status, writes_enabled FROM tenants WHERE id = $1 AND workspace_id = $2{share}");
    let t: Option<(String, String, i64)> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(&tid)
        .bind(workspace_id.to_string())
        .fetch_optional(c)
        .await)?;
    let Some((name, status, writes)) = t else { return Ok(()) };
    facts.tenant = Some(TenantFact {
        id: tenant_id,
        name,
        status: parse(&status, "tenant status", TenantStatus::parse)?,
        writes_enabled: writes != 0,
    });
    let sql = format!("SELECT status FROM provider_connections WHERE tenant_id = $1{share}");
    let conn: Option<(String,)> = on_tx!(tx, |c| sqlx::query_as(&sql).bind(&tid).fetch_optional(c).await)?;
    facts.connection = conn
        .map(|(s,)| parse(&s, "connection status", ConnectionStatus::parse).map(|status| ConnectionFact { status }))
        .transpose()?;
    Ok(())
}
