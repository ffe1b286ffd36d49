//! The access guard: the one place that applies SPEC §6.2 to a request.
//! `routes::router` wraps every route in it with that route's `Scope`.
//!
//! - not signed in → the sign-in page (pages) or 401 (API);
//! - a cookie-authenticated write without the session's CSRF token → 403;
//! - not a member of the workspace → 404;
//! - the route's run or tenant is missing, in another workspace, or outside
//!   the viewer's tenant scope → 404, the same answer in every case;
//! - in scope without the route's capability → 403;
//! - lists: a `tenant_id` filter outside the scope → 404; otherwise handlers
//!   filter by `Ctx::tenant_scope`.
//!
//! Every decision is `atlas_core::access::check`; nothing here looks at a role.

use std::collections::HashMap;
use std::sync::Arc;

use atlas_core::access::{self, Access};
use atlas_core::run::Run;
use atlas_core::Capability;
use atlas_engine::service;
use atlas_store::admin::Workspace;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use crate::auth::{authenticate, csrf, Principal};
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult, PageError};
use crate::routes::{Need, Scope, Surface};
use crate::state::AppState;

/// What the guard knows about a route.
#[derive(Debug)]
pub struct RouteMeta {
    pub surface: Surface,
    pub scope: Scope,
}

#[derive(Clone)]
pub struct GuardState {
    pub app: AppState,
    pub route: Arc<RouteMeta>,
}

pub async fn guard(State(gs): State<GuardState>, req: Request, next: Next) -> Response {
    let uri = req.uri().clone();
    let method = req.method().clone();
    match authorize(&gs, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => refuse(gs.route.surface, e, &method, &uri),
    }
}

/// Unknown paths: the uniform 404 of their surface.
pub async fn fallback(uri: Uri) -> Response {
    let surface = if uri.path().starts_with("/api/") { Surface::Api } else { Surface::Page };
    refuse(surface, ApiError::NotFound, &Method::GET, &uri)
}

fn refuse(surface: Surface, e: ApiError, method: &Method, uri: &Uri) -> Response {
    match (surface, e) {
        (Surface::Page, ApiError::Unauthenticated) => {
            let next = if method == Method::GET {
                uri.path_and_query().map_or("/admin/operations", |p| p.as_str()).to_owned()
            } else {
                "/".to_owned()
            };
            let encoded = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            Redirect::to(&format!("/login?{encoded}")).into_response()
        }
        (Surface::Page, e) => PageError(e).into_response(),
        (Surface::Api, e) => e.into_response(),
    }
}

async fn authorize(gs: &GuardState, req: Request) -> ApiResult<Request> {
    let scope = gs.route.scope;
    if scope == Scope::Public {
        return Ok(req);
    }
    let app = &gs.app;
    let (mut parts, body) = req.into_parts();
    let principal = authenticate(app, &parts.headers).await?.ok_or(ApiError::Unauthenticated)?;
    let body = match (&principal.session, is_read(&parts.method)) {
        (Some(session), false) => csrf::check(&parts, body, &session.csrf_token, app.config.body_limit).await?,
        _ => body,
    };
    let params: HashMap<String, String> =
        Path::<HashMap<String, String>>::from_request_parts(&mut parts, &()).await.map(|p| p.0).unwrap_or_default();
    let query: HashMap<String, String> =
        parts.uri.query().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    let mut ctx = resolve(app, principal, scope, &params, &query).await?;
    ctx.origin = origin(&parts, app.config.secure_cookies);
    parts.extensions.insert(ctx);
    Ok(Request::from_parts(parts, body))
}

/// `scheme://host` of the request, from its `Host` header (or the URI's
/// authority, HTTP/2), when that is a valid authority; `https` behind TLS.
fn origin(parts: &axum::http::request::Parts, tls: bool) -> Option<String> {
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))?;
    let authority: axum::http::uri::Authority = host.trim().parse().ok()?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    let scheme = if tls { "https" } else { "http" };
    Some(format!("{scheme}://{authority}"))
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn resolve(
    app: &AppState,
    p: Principal,
    scope: Scope,
    params: &HashMap<String, String>,
    query: &HashMap<String, String>,
) -> ApiResult<Ctx> {
    let mut ctx =
        Ctx { user: p.user, session: p.session, workspace: None, viewer: None, tenant: None, run: None, origin: None };
    match scope {
        Scope::Public => {}
        Scope::User => {
            if let Some(ws) = current_workspace(app, &ctx, None).await? {
                ctx.viewer = service::viewer(&app.store, ws.id, ctx.user.id).await?;
                ctx.workspace = Some(ws);
            }
        }
        Scope::Workspace(cap) | Scope::List(cap) | Scope::WorkspacePath(cap) => {
            let named = match scope {
                Scope::WorkspacePath(_) => Some(params.get("workspace").map(String::as_str).unwrap_or("")),
                _ => query.get("workspace").map(String::as_str).filter(|w| !w.is_empty()),
            };
            let ws = current_workspace(app, &ctx, named).await?.ok_or(ApiError::NotFound)?;
            ctx.viewer = service::viewer(&app.store, ws.id, ctx.user.id).await?;
            allow(access::check(ctx.viewer.as_ref(), &[], cap), cap)?;
            if let (Scope::List(_), Some(t)) = (scope, query.get("tenant_id").filter(|t| !t.is_empty())) {
                let id = Uuid::parse_str(t).map_err(|_| ApiError::Invalid(format!("`{t}` is not a tenant id")))?;
                let tenant = app.store.tenant_get(id).await?;
                if tenant.workspace_id != ws.id {
                    return Err(ApiError::NotFound);
                }
                allow(access::check(ctx.viewer.as_ref(), &[tenant.id], cap), cap)?;
                ctx.tenant = Some(tenant);
            }
            ctx.workspace = Some(ws);
        }
        Scope::Tenant(need) => {
            let id = path_id(params, "tenant")?;
            let tenant = app.store.tenant_get(id).await?;
            ctx.viewer = service::viewer(&app.store, tenant.workspace_id, ctx.user.id).await?;
            check_need(&ctx, need, &[tenant.id], None)?;
            ctx.workspace = Some(app.store.workspace_get(tenant.workspace_id).await?);
            ctx.tenant = Some(tenant);
        }
        Scope::Run(need) => {
            let id = path_id(params, "run")?;
            let run = app.store.run_get(id).await?;
            ctx.viewer = service::viewer(&app.store, run.workspace_id, ctx.user.id).await?;
            check_need(&ctx, need, &access::run_tenants(&run), Some(&run))?;
            ctx.workspace = Some(app.store.workspace_get(run.workspace_id).await?);
            ctx.run = Some(run);
        }
    }
    Ok(ctx)
}

/// The context of a signed-in person outside any route (error pages): their
/// current workspace and what they may do there.
pub(crate) async fn user_ctx(app: &AppState, p: Principal) -> ApiResult<Ctx> {
    resolve(app, p, Scope::User, &HashMap::new(), &HashMap::new()).await
}

/// A path id that does not parse names nothing: not found, like a missing one.
fn path_id(params: &HashMap<String, String>, name: &str) -> ApiResult<Uuid> {
    params.get(name).and_then(|s| Uuid::parse_str(s).ok()).ok_or(ApiError::NotFound)
}

fn check_need(ctx: &Ctx, need: Need, tenants: &[Uuid], run: Option<&Run>) -> ApiResult<()> {
    let viewer = ctx.viewer.as_ref();
    match need {
        Need::Cap(cap) => allow(access::check(viewer, tenants, cap), cap),
        Need::InScope => match access::check(viewer, tenants, Capability::WorkspaceView) {
            Access::NotFound => Err(ApiError::NotFound),
            Access::Allowed | Access::Forbidden => Ok(()),
        },
        Need::CancelRun => match run {
            Some(r) => allow(access::can_cancel(viewer, r), Capability::OperationsCancel),
            None => Err(ApiError::NotFound),
        },
        Need::RetryRun => match run {
            Some(r) => allow(access::can_retry(viewer, r), r.op_type.spec().capability),
            None => Err(ApiError::NotFound),
        },
    }
}

fn allow(access: Access, cap: Capability) -> ApiResult<()> {
    match access {
        Access::Allowed => Ok(()),
        Access::NotFound => Err(ApiError::NotFound),
        Access::Forbidden => Err(ApiError::Forbidden(format!("You need the capability {cap} for this."))),
    }
}

/// The workspace a request is about: the one named (slug or id; a name that
/// matches nothing is not found), else the session's, else the person's first.
/// Membership is checked by the caller (through the access rule).
async fn current_workspace(app: &AppState, ctx: &Ctx, named: Option<&str>) -> ApiResult<Option<Workspace>> {
    if let Some(name) = named {
        let found = match Uuid::parse_str(name) {
            Ok(id) => app.store.workspace_get(id).await,
            Err(_) => app.store.workspace_by_slug(name).await,
        };
        return Ok(Some(found?));
    }
    let memberships = app.store.memberships_of_user(ctx.user.id).await?;
    let chosen = ctx
        .session
        .as_ref()
        .and_then(|s| s.workspace_id)
        .filter(|w| memberships.iter().any(|m| m.workspace_id == *w))
        .or_else(|| memberships.first().map(|m| m.workspace_id));
    match chosen {
        Some(id) => Ok(Some(app.store.workspace_get(id).await?)),
        None => Ok(None),
    }
}
