//! The route table. Every page and endpoint is declared here once, with its
//! surface and the access scope the guard enforces; `router` is built from
//! this table only, so a route cannot exist without its guard, and the
//! authorization matrix test walks the same table.

use std::sync::Arc;

use atlas_core::Capability;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, map_response, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::{ApiError, PageError};
use crate::guard::{self, GuardState};
use crate::state::AppState;
use crate::{api, auth, errors, live, ops, pages, view};

/// How a route answers: HTML pages, the JSON API, or public plumbing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    Page,
    Api,
}

/// What the viewer needs on the route's object, beyond being in scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// This capability on the object's tenants.
    Cap(Capability),
    /// Only to be in scope: the gate decides the capability (starting an operation).
    InScope,
    /// `operations.cancel`, or being the run's initiator.
    CancelRun,
    /// The capability of the run's operation type.
    RetryRun,
}

/// Which object a route is about, and so how the guard authorizes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// No sign-in needed.
    Public,
    /// Any signed-in user; the handler acts on their own records only.
    User,
    /// The current workspace (`?workspace=`, else the session's, else the first).
    Workspace(Capability),
    /// A list in the current workspace: members with partial scope see their
    /// tenants only; a `tenant_id` filter outside the scope is not found.
    List(Capability),
    /// The workspace named in the path (`{workspace}`: slug or id).
    WorkspacePath(Capability),
    /// The tenant in the path (`{tenant}`).
    Tenant(Need),
    /// The run in the path (`{run}`).
    Run(Need),
}

/// One route: method, path, surface, scope and handler.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub surface: Surface,
    pub scope: Scope,
    handler: MethodRouter<AppState>,
}

impl std::fmt::Debug for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({:?}, {:?})", self.method, self.path, self.surface, self.scope)
    }
}

fn get<H, T>(path: &'static str, surface: Surface, scope: Scope, h: H) -> RouteSpec
where
    H: Handler<T, AppState>,
    T: 'static,
{
    RouteSpec { method: Method::GET, path, surface, scope, handler: routing::get(h) }
}

fn post<H, T>(path: &'static str, surface: Surface, scope: Scope, h: H) -> RouteSpec
where
    H: Handler<T, AppState>,
    T: 'static,
{
    RouteSpec { method: Method::POST, path, surface, scope, handler: routing::post(h) }
}

/// Every route of the console and the API.
pub fn routes() -> Vec<RouteSpec> {
    use Capability as C;
    use Need::*;
    use Scope::*;
    use Surface::{Api, Page};
    vec![
        // Plumbing and sign-in.
        get("/", Page, Public, pages::home::index),
        get("/login", Page, Public, auth::login::form),
        post("/login", Page, Public, auth::login::submit),
        post("/logout", Page, User, auth::login::logout),
        get("/static/app.css", Page, Public, view::assets::css),
        get("/static/app.js", Page, Public, view::assets::js),
        get("/healthz", Api, Public, ops::healthz),
        get("/readyz", Api, Public, ops::readyz),
        get("/metrics", Api, Public, ops::metrics),
        // Console: Monitoring.
        get("/admin/operations", Page, List(C::OperationsView), pages::operations::list),
        get("/admin/operations/rows", Page, List(C::OperationsView), pages::operations::rows),
        get("/admin/operations/tabs", Page, List(C::OperationsView), pages::operations::tabs_fragment),
        get("/admin/live", Page, List(C::OperationsView), live::stream),
        post("/admin/operations/bulk", Page, Workspace(C::BulkExecute), pages::tenants::start_bulk),
        get("/admin/operations/{run}", Page, Run(Cap(C::OperationsView)), pages::run::show),
        get("/admin/operations/{run}/live", Page, Run(Cap(C::OperationsView)), pages::run::fragment),
        post("/admin/operations/{run}/cancel", Page, Run(CancelRun), pages::run::cancel),
        post("/admin/operations/{run}/retry", Page, Run(RetryRun), pages::run::retry),
        // Who may decide is the approval rule's (told in the flash).
        post("/admin/operations/{run}/approve", Page, Run(Cap(C::OperationsView)), pages::run::approve),
        post("/admin/operations/{run}/reject", Page, Run(Cap(C::OperationsView)), pages::run::reject),
        // Console: the workspace's home, tenants, and what changed.
        get("/admin/fleet", Page, Workspace(C::TenantView), pages::fleet::overview),
        get("/admin/tenants", Page, List(C::TenantView), pages::tenants::list),
        get("/admin/tenants/{tenant}", Page, Tenant(Cap(C::TenantView)), pages::tenants::show),
        get("/admin/tenants/{tenant}/drift", Page, Tenant(Cap(C::TenantView)), pages::changes::drift),
        get(
            "/admin/tenants/{tenant}/objects/{id}/diff",
            Page,
            Tenant(Cap(C::TenantView)),
            pages::changes::version_diff,
        ),
        get("/admin/backups/{a}", Page, User, pages::changes::backup),
        get("/admin/backups/{a}/diff/{b}", Page, User, pages::changes::backup_diff),
        post("/admin/tenants/{tenant}/operations", Page, Tenant(InScope), pages::tenants::start),
        get("/admin/tenants/{tenant}/settings", Page, Tenant(Cap(C::TenantManage)), pages::settings::show),
        post("/admin/tenants/{tenant}/status", Page, Tenant(Cap(C::TenantManage)), pages::settings::set_status),
        post("/admin/tenants/{tenant}/write-gate", Page, Tenant(Cap(C::TenantManage)), pages::settings::set_write_gate),
        post("/admin/tenants/{tenant}/approval", Page, Tenant(Cap(C::TenantManage)), pages::settings::set_approval),
        get(
            "/admin/tenants/{tenant}/connection",
            Page,
            Tenant(Cap(C::ProviderConnectionsManage)),
            pages::settings::connection,
        ),
        post(
            "/admin/tenants/{tenant}/connection",
            Page,
            Tenant(Cap(C::ProviderConnectionsManage)),
            pages::settings::set_connection,
        ),
        get(
            "/admin/tenants/{tenant}/schedules",
            Page,
            Tenant(Cap(C::TenantBackupSchedulesManage)),
            pages::schedules::list,
        ),
        post(
            "/admin/tenants/{tenant}/schedules",
            Page,
            Tenant(Cap(C::TenantBackupSchedulesManage)),
            pages::schedules::add,
        ),
        post(
            "/admin/tenants/{tenant}/schedules/{schedule}/enabled",
            Page,
            Tenant(Cap(C::TenantBackupSchedulesManage)),
            pages::schedules::set_enabled,
        ),
        post(
            "/admin/tenants/{tenant}/schedules/{schedule}/run",
            Page,
            Tenant(Cap(C::TenantBackupSchedulesManage)),
            pages::schedules::run_now,
        ),
        // Console: the person's own things, audit, members.
        get("/admin/notifications", Page, User, pages::notifications::list),
        post("/admin/notifications/{id}/read", Page, User, pages::notifications::mark_read),
        post("/admin/workspace", Page, User, pages::home::switch_workspace),
        get("/admin/audit", Page, List(C::AuditView), pages::audit::list),
        get("/admin/search", Page, Workspace(C::TenantView), pages::search::search),
        get("/admin/members", Page, Workspace(C::MembersManage), pages::members::list),
        post("/admin/members", Page, Workspace(C::MembersManage), pages::members::grant),
        post("/admin/members/{user}/role", Page, Workspace(C::MembersManage), pages::members::set_role),
        post("/admin/members/{user}/scope", Page, Workspace(C::MembersManage), pages::members::set_scope),
        post("/admin/members/{user}/revoke", Page, Workspace(C::MembersManage), pages::members::revoke),
        post("/admin/roles", Page, Workspace(C::MembersManage), pages::members::add_role),
        post("/admin/roles/{role}/capabilities", Page, Workspace(C::MembersManage), pages::members::set_role_caps),
        // JSON API.
        get("/api/v1/openapi.json", Api, Public, api::openapi::document_handler),
        get("/api/v1/me", Api, User, api::me::me),
        get("/api/v1/workspaces", Api, User, api::me::workspaces),
        get("/api/v1/me/tokens", Api, User, api::tokens::list),
        post("/api/v1/me/tokens", Api, User, api::tokens::create),
        post("/api/v1/me/tokens/{id}/revoke", Api, User, api::tokens::revoke),
        post("/api/v1/tenants/{tenant}/operations", Api, Tenant(InScope), api::operations::start),
        post(
            "/api/v1/workspaces/{workspace}/operations",
            Api,
            WorkspacePath(C::BulkExecute),
            api::operations::start_bulk,
        ),
        get("/api/v1/operations", Api, List(C::OperationsView), api::operations::list),
        get("/api/v1/operations/{run}", Api, Run(Cap(C::OperationsView)), api::operations::show),
        post("/api/v1/operations/{run}/cancel", Api, Run(CancelRun), api::operations::cancel),
        post("/api/v1/operations/{run}/retry", Api, Run(RetryRun), api::operations::retry),
        // Who may decide is the approval rule's (403/409 from the handler).
        post("/api/v1/operations/{run}/approve", Api, Run(Cap(C::OperationsView)), api::operations::approve),
        post("/api/v1/operations/{run}/reject", Api, Run(Cap(C::OperationsView)), api::operations::reject),
        get("/api/v1/notifications", Api, User, api::notifications::list),
        post("/api/v1/notifications/{id}/read", Api, User, api::notifications::mark_read),
        get("/api/v1/audit", Api, List(C::AuditView), api::audit::list),
        get("/api/v1/tenants", Api, List(C::TenantView), api::tenants::list),
        get("/api/v1/object-types", Api, User, api::changes::object_types),
        get("/api/v1/tenants/{tenant}/objects/{id}/versions", Api, Tenant(Cap(C::TenantView)), api::changes::versions),
        get("/api/v1/tenants/{tenant}/objects/{id}/diff", Api, Tenant(Cap(C::TenantView)), api::changes::version_diff),
        get("/api/v1/tenants/{tenant}/drift", Api, Tenant(Cap(C::TenantView)), api::changes::drift),
        get("/api/v1/backups/{a}", Api, User, api::changes::backup_show),
        get("/api/v1/backups/{a}/diff/{b}", Api, User, api::changes::backup_diff),
        post("/api/v1/workspaces/{workspace}/tenants", Api, WorkspacePath(C::TenantManage), api::tenants::create),
        get("/api/v1/tenants/{tenant}", Api, Tenant(Cap(C::TenantView)), api::tenants::show),
        post("/api/v1/tenants/{tenant}/status", Api, Tenant(Cap(C::TenantManage)), api::tenants::set_status),
        post("/api/v1/tenants/{tenant}/write-gate", Api, Tenant(Cap(C::TenantManage)), api::tenants::set_write_gate),
        post("/api/v1/tenants/{tenant}/approval", Api, Tenant(Cap(C::TenantManage)), api::tenants::set_approval),
        get(
            "/api/v1/tenants/{tenant}/connection",
            Api,
            Tenant(Cap(C::ProviderConnectionsManage)),
            api::tenants::connection,
        ),
        post(
            "/api/v1/tenants/{tenant}/connection",
            Api,
            Tenant(Cap(C::ProviderConnectionsManage)),
            api::tenants::set_connection,
        ),
        get(
            "/api/v1/tenants/{tenant}/schedules",
            Api,
            Tenant(Cap(C::TenantBackupSchedulesManage)),
            api::schedules::list,
        ),
        post(
            "/api/v1/tenants/{tenant}/schedules",
            Api,
            Tenant(Cap(C::TenantBackupSchedulesManage)),
            api::schedules::add,
        ),
        post(
            "/api/v1/tenants/{tenant}/schedules/{schedule}/enabled",
            Api,
            Tenant(Cap(C::TenantBackupSchedulesManage)),
            api::schedules::set_enabled,
        ),
        post(
            "/api/v1/tenants/{tenant}/schedules/{schedule}/fire",
            Api,
            Tenant(Cap(C::TenantBackupSchedulesManage)),
            api::schedules::fire,
        ),
        get("/api/v1/workspaces/{workspace}/members", Api, WorkspacePath(C::MembersManage), api::members::list),
        post("/api/v1/workspaces/{workspace}/members", Api, WorkspacePath(C::MembersManage), api::members::grant),
        post(
            "/api/v1/workspaces/{workspace}/members/{user}/role",
            Api,
            WorkspacePath(C::MembersManage),
            api::members::set_role,
        ),
        post(
            "/api/v1/workspaces/{workspace}/members/{user}/scope",
            Api,
            WorkspacePath(C::MembersManage),
            api::members::set_scope,
        ),
        post(
            "/api/v1/workspaces/{workspace}/members/{user}/revoke",
            Api,
            WorkspacePath(C::MembersManage),
            api::members::revoke,
        ),
        get("/api/v1/workspaces/{workspace}/roles", Api, WorkspacePath(C::MembersManage), api::members::roles),
        post("/api/v1/workspaces/{workspace}/roles", Api, WorkspacePath(C::MembersManage), api::members::add_role),
        post(
            "/api/v1/workspaces/{workspace}/roles/{role}/capabilities",
            Api,
            WorkspacePath(C::MembersManage),
            api::members::set_role_capabilities,
        ),
    ]
}

/// The whole application: every route of `routes()` behind the guard, inside
/// the serving stack's limits and headers (`serving`).
pub fn router(state: AppState) -> Router {
    let mut router: Router<AppState> = Router::new();
    for spec in routes() {
        let guard_state = GuardState {
            app: state.clone(),
            route: Arc::new(guard::RouteMeta { surface: spec.surface, scope: spec.scope }),
        };
        let handler = spec.handler.route_layer(from_fn_with_state(guard_state, guard::guard));
        router = router.route(spec.path, handler);
    }
    let router = router
        .method_not_allowed_fallback(errors::method_not_allowed)
        .fallback(guard::fallback)
        .layer(from_fn_with_state(state.clone(), errors::framed))
        .layer(from_fn_with_state(state.clone(), crate::seal::after_writes));
    serving(router, &state).with_state(state)
}

/// What a separate metrics address serves: `/metrics` without a token, and `/healthz`.
pub fn metrics_router(state: AppState) -> Router {
    let router: Router<AppState> = Router::new()
        .route("/metrics", routing::get(ops::metrics_open))
        .route("/healthz", routing::get(ops::healthz))
        .fallback(guard::fallback);
    serving(router, &state).with_state(state)
}

/// The serving stack around the routes, from tower-http rather than by hand:
/// a body over the limit is refused with 413 — at once when its declared
/// `Content-Length` says so, before a byte of it is read; every answer that
/// sets no caching of its own is `Cache-Control: no-store` (pages and API
/// answers are per person); behind TLS, HSTS.
fn serving(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let limit = state.config.body_limit;
    let router = router
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(from_fn(too_large_in_our_words))
        .layer(map_response(security_headers))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if state.config.secure_cookies {
        router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        router
    }
}

/// tower-http's 413 is plain text; give it the error shape of its surface.
async fn too_large_in_our_words(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    // Ours are JSON or HTML; tower-http's is a bare `text/plain` line.
    let ours = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"));
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || ours {
        return resp;
    }
    if api {
        ApiError::TooLarge.into_response()
    } else {
        PageError(ApiError::TooLarge).into_response()
    }
}

/// Our own scripts and styles only, no framing, no sniffing.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
               frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp
}
