//! The application functions both surfaces share: reading the Monitoring
//! list's filters, the names a page shows for ids, and the run's JSON.

use std::collections::HashMap;

use atlas_core::access::run_actions;
use atlas_core::run::{Run, RunOutcome, RunStatus};
use atlas_core::value::quoted;
use atlas_core::OperationType;
use atlas_store::run::{Initiator, RunFilter};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use atlas_core::badge::AWAITING_APPROVAL;

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The Monitoring list's filters, as in the URL (SPEC §7:
/// `?workspace=&tenant_id=&type=&status=&outcome=&initiator=&cursor=`).
/// Empty values mean "no filter", as an HTML form sends them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RunListQuery {
    pub workspace: Option<String>,
    pub tenant_id: Option<String>,
    #[serde(rename = "type")]
    pub op_type: Option<String>,
    pub status: Option<String>,
    pub outcome: Option<String>,
    pub initiator: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl RunListQuery {
    /// The store filter for this viewer: their workspace, their tenant scope
    /// (the guard has already refused a tenant filter outside it), and the
    /// filters given. A value that does not parse is invalid (422).
    pub fn filter(&self, ctx: &Ctx, default_limit: u32) -> ApiResult<RunFilter> {
        let invalid = |what: &str, v: &str| ApiError::Invalid(format!("{} is not a valid {what}", quoted(v)));
        let op_type = given(&self.op_type)
            .map(|t| OperationType::parse(t).ok_or_else(|| invalid("operation type", t)))
            .transpose()?;
        // `awaiting_approval`: the queued runs waiting for a person (SPEC §10.2).
        let awaiting_approval = given(&self.status) == Some(AWAITING_APPROVAL.value);
        let status = given(&self.status)
            .filter(|_| !awaiting_approval)
            .map(|s| RunStatus::parse(s).ok_or_else(|| invalid("status", s)))
            .transpose()?;
        let outcome =
            given(&self.outcome).map(|o| RunOutcome::parse(o).ok_or_else(|| invalid("outcome", o))).transpose()?;
        let initiator = given(&self.initiator)
            .map(|i| match i {
                "system" => Ok(Initiator::System),
                other => Uuid::parse_str(other)
                    .map(Initiator::User)
                    .map_err(|_| invalid("initiator (a user id or `system`)", other)),
            })
            .transpose()?;
        let before = given(&self.cursor).map(|c| Uuid::parse_str(c).map_err(|_| invalid("cursor", c))).transpose()?;
        let limit = given(&self.limit)
            .map(|l| l.parse::<u32>().ok().filter(|n| (1..=200).contains(n)).ok_or_else(|| invalid("limit (1–200)", l)))
            .transpose()?
            .unwrap_or(default_limit);
        Ok(RunFilter {
            workspace_id: Some(ctx.workspace()?.id),
            tenant_id: ctx.tenant.as_ref().map(|t| t.id),
            tenant_scope: ctx.tenant_scope(),
            op_type,
            status,
            outcome,
            awaiting_approval,
            initiator,
            before,
            limit,
        })
    }

    /// This query as URL parameters, with some replaced (`None` removes one).
    pub fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let fields = [
            ("workspace", &self.workspace),
            ("tenant_id", &self.tenant_id),
            ("type", &self.op_type),
            ("status", &self.status),
            ("outcome", &self.outcome),
            ("initiator", &self.initiator),
            ("cursor", &self.cursor),
        ];
        for (k, v) in fields {
            let value = match changes.iter().find(|(c, _)| *c == k) {
                Some((_, new)) => new.map(str::to_owned),
                None => given(v).map(str::to_owned),
            };
            if let Some(v) = value {
                pairs.push((k, v));
            }
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// One page of runs and the cursor of the next (older) one.
pub async fn run_page(state: &AppState, mut filter: RunFilter) -> ApiResult<(Vec<Run>, Option<Uuid>)> {
    let limit = filter.limit.clamp(1, 200);
    filter.limit = limit + 1;
    let mut runs = state.store.run_list(&filter).await?;
    let next = if runs.len() > limit as usize {
        runs.truncate(limit as usize);
        runs.last().map(|r| r.id)
    } else {
        None
    };
    Ok((runs, next))
}

/// Display names for the ids a page shows.
#[derive(Debug, Default)]
pub struct Names {
    pub tenants: HashMap<Uuid, String>,
    pub users: HashMap<Uuid, String>,
}

impl Names {
    pub async fn load(state: &AppState, workspace_id: Uuid, users: Vec<Uuid>) -> ApiResult<Names> {
        let tenants = state.store.tenant_list(workspace_id).await?.into_iter().map(|t| (t.id, t.name)).collect();
        let mut names = HashMap::new();
        for id in users {
            if names.contains_key(&id) {
                continue;
            }
            let name = match state.store.user_get(id).await {
                Ok(u) => u.display_name,
                Err(atlas_store::StoreError::NotFound(_)) => "Deleted user".to_owned(),
                Err(e) => return Err(e.into()),
            };
            names.insert(id, name);
        }
        Ok(Names { tenants, users: names })
    }

    pub fn tenant(&self, id: Option<Uuid>) -> String {
        match id {
            Some(id) => self.tenants.get(&id).cloned().unwrap_or_else(|| "Unknown tenant".into()),
            None => "Several tenants".into(),
        }
    }

    /// What a run's tenant column says: the tenant's name, or for a bulk run
    /// over several tenants "3 tenants" (with `run_tenant_names` for a title).
    pub fn run_tenants(&self, run: &Run) -> String {
        match run.tenant_id {
            Some(id) => self.tenant(Some(id)),
            None => match atlas_core::access::run_tenants(run).as_slice() {
                [one] => self.tenant(Some(*one)),
                many => format!("{} tenants", many.len()),
            },
        }
    }

    /// The names of every tenant a run touches, by name.
    pub fn run_tenant_names(&self, run: &Run) -> Vec<String> {
        let mut names: Vec<String> =
            atlas_core::access::run_tenants(run).into_iter().map(|t| self.tenant(Some(t))).collect();
        names.sort();
        names
    }

    pub fn user(&self, id: Uuid) -> String {
        self.users.get(&id).cloned().unwrap_or_else(|| "Unknown user".into())
    }
}

/// A run's human label: "Inventory sync", "Restore preview", "Bulk inventory sync".
pub fn run_label(run: &Run) -> String {
    atlas_core::announce::label(run.op_type, &run.params)
}

/// The run's JSON (SPEC §7): the run itself plus what this viewer may do now.
pub fn run_json(ctx: &Ctx, run: &Run) -> Value {
    let mut v = serde_json::to_value(run).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        m.insert("actions".into(), json!(run_actions(ctx.viewer.as_ref(), run)));
    }
    v
}

/// The console address of a run.
pub fn run_url(id: Uuid) -> String {
    format!("/admin/operations/{id}")
}

/// Parses a URL query; a malformed one is invalid (422), never a 500.
pub fn parse_query<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> ApiResult<T> {
    match raw {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q).map_err(|e| ApiError::Invalid(format!("invalid query: {e}"))),
    }
}
