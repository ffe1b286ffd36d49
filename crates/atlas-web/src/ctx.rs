//! The authorized request context the guard hands every handler: who is
//! asking, in which workspace, as which viewer, and the route's object.

use atlas_core::access::{self, Access, Viewer};
use atlas_core::run::Run;
use atlas_core::Capability;
use atlas_store::admin::{ChangeBy, Tenant, User, Workspace};
use atlas_store::session::WebSession;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

#[derive(Clone, Debug)]
pub struct Ctx {
    pub user: User,
    pub session: Option<WebSession>,
    /// The route's workspace (for `User` routes: the current one, if any).
    pub workspace: Option<Workspace>,
    pub viewer: Option<Viewer>,
    /// The route's tenant, or a list's tenant filter.
    pub tenant: Option<Tenant>,
    pub run: Option<Run>,
    /// `http://host` (`https` behind TLS) from the request's `Host`, if it
    /// named a valid authority: run URLs in API answers are absolute with it.
    pub origin: Option<String>,
}

impl Ctx {
    pub fn workspace(&self) -> ApiResult<&Workspace> {
        self.workspace.as_ref().ok_or(ApiError::NotFound)
    }

    pub fn tenant(&self) -> ApiResult<&Tenant> {
        self.tenant.as_ref().ok_or(ApiError::NotFound)
    }

    pub fn run(&self) -> ApiResult<&Run> {
        self.run.as_ref().ok_or(ApiError::NotFound)
    }

    /// The console address of a run: absolute when the request named its host.
    pub fn run_url(&self, id: Uuid) -> String {
        let path = crate::query::run_url(id);
        match &self.origin {
            Some(origin) => format!("{origin}{path}"),
            None => path,
        }
    }

    /// Who makes an administrative change made through this request.
    pub fn by(&self) -> ChangeBy {
        ChangeBy::user(self.user.id)
    }

    /// The session's CSRF token (empty for token-authenticated requests).
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.csrf_token.as_str())
    }

    /// Whether the viewer may use `capability` on `tenants` (the access rule).
    pub fn allows(&self, capability: Capability, tenants: &[Uuid]) -> bool {
        access::check(self.viewer.as_ref(), tenants, capability) == Access::Allowed
    }

    /// The tenants a partially scoped viewer is limited to (`None`: all).
    pub fn tenant_scope(&self) -> Option<Vec<Uuid>> {
        match self.viewer.as_ref().map(|v| &v.scope) {
            Some(atlas_core::TenantScope::Tenants(ids)) => Some(ids.iter().copied().collect()),
            Some(atlas_core::TenantScope::All) => None,
            None => Some(Vec::new()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Ctx, ApiError> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("a handler ran without the access guard".into()))
    }
}
