//! A small world for console and API tests, built through the public APIs,
//! and a client that sends requests through the router in process.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use atlas_core::capability::BuiltinRole;
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::{Capability, OperationType};
use atlas_engine::secrets::Secrets;
use atlas_engine::{families, service, EngineConfig, StartRequest, Worker};
use atlas_providers::graph::secret::SecretString;
use atlas_store::admin::{ChangeBy, CustomRole, RoleRef, Tenant, User, Workspace};
use atlas_store::Store;
use atlas_web::{router, AppState, WebConfig};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

/// The installation key that seals provider secrets in these tests.
pub const SECRET_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Secret sealing with the test key; a configured key writes no key file.
pub fn secrets() -> Secrets {
    Secrets { key: Some(SecretString::new(SECRET_KEY)), data_dir: std::env::temp_dir().join("atlas-web-tests") }
}

pub fn cli() -> ChangeBy {
    ChangeBy::cli()
}

/// How a test request authenticates.
#[derive(Clone, Debug)]
pub struct Login {
    pub user: User,
    pub cookie: String,
    pub csrf: String,
    pub token: String,
}

pub struct World {
    pub store: Store,
    pub app: Router,
    pub ws: Workspace,
    pub other_ws: Workspace,
    /// Active, writes open, sandbox connection.
    pub tenant_a: Tenant,
    pub tenant_b: Tenant,
    pub owner: Login,
    pub manager: Login,
    pub operator: Login,
    pub readonly: Login,
    /// Owner role, but entitled to tenant B only.
    pub scoped: Login,
    /// A custom role with `workspace.view` only.
    pub lacking: Login,
    /// Owner of another workspace, not a member of this one.
    pub outsider: Login,
    /// A user who is nobody's member yet.
    pub newbie: User,
    pub viewer_role: CustomRole,
    pub schedule: atlas_store::schedule::Schedule,
}

pub fn engine_config() -> EngineConfig {
    EngineConfig {
        lease: Duration::from_millis(2_000),
        retry_backoff: Duration::from_millis(10),
        poll_interval: Duration::from_millis(20),
        concurrency: 2,
        claim_batch: 8,
        reevaluate_interval: Duration::from_millis(50),
        max_attempts: 3,
    }
}

async fn login(store: &Store, user: &User) -> Login {
    let (cookie, session) = store.session_create(user.id, Duration::from_secs(3600)).await.unwrap();
    let (_, token) = store.token_create(user.id, "tests", &cli()).await.unwrap();
    Login { user: user.clone(), cookie, csrf: session.csrf_token, token }
}

impl World {
    pub async fn new(store: Store) -> World {
        World::with_config(store, WebConfig { secrets: secrets(), ..WebConfig::default() }).await
    }

    pub async fn with_config(store: Store, config: WebConfig) -> World {
        let tag = &Uuid::new_v4().simple().to_string()[..8];
        let ws = store.workspace_create(&format!("contoso-{tag}"), "Contoso MSP", &cli()).await.unwrap();
        let other_ws = store.workspace_create(&format!("other-{tag}"), "Other MSP", &cli()).await.unwrap();
        let tenant_a =
            store.tenant_create(ws.id, "Contoso North", TenantStatus::Active, true, None, &cli()).await.unwrap();
        let tenant_b = store.tenant_create(ws.id, "Fabrikam", TenantStatus::Active, true, None, &cli()).await.unwrap();
        for t in [&tenant_a, &tenant_b] {
            store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &cli()).await.unwrap();
        }
        let viewer_role = store
            .role_create(ws.id, "viewer", &[Capability::WorkspaceView].into_iter().collect(), &cli())
            .await
            .unwrap();
        let mut users = Vec::new();
        for (name, role, scope, in_ws) in [
            ("owner", RoleRef::Builtin(BuiltinRole::Owner), TenantScope::All, true),
            ("manager", RoleRef::Builtin(BuiltinRole::Manager), TenantScope::All, true),
            ("operator", RoleRef::Builtin(BuiltinRole::Operator), TenantScope::All, true),
            ("readonly", RoleRef::Builtin(BuiltinRole::Readonly), TenantScope::All, true),
            (
                "scoped",
                RoleRef::Builtin(BuiltinRole::Owner),
                TenantScope::Tenants([tenant_b.id].into_iter().collect()),
                true,
            ),
            ("lacking", RoleRef::Custom("viewer".into()), TenantScope::All, true),
            ("outsider", RoleRef::Builtin(BuiltinRole::Owner), TenantScope::All, false),
        ] {
            let display = format!("{}{} Person", name[..1].to_uppercase(), &name[1..]);
            let user = store.user_create(&format!("{name}-{tag}@example.com"), &display, None, &cli()).await.unwrap();
            let target = if in_ws { ws.id } else { other_ws.id };
            store.member_grant(target, user.id, &role, &scope, &cli()).await.unwrap();
            users.push(login(&store, &user).await);
        }
        let newbie = store.user_create(&format!("newbie-{tag}@example.com"), "New Person", None, &cli()).await.unwrap();
        let schedule = store.schedule_add(tenant_a.id, "0 2 * * *", "UTC", &cli()).await.unwrap();
        let app = router(AppState::new(store.clone(), engine_config(), config));
        let mut it = users.into_iter();
        let mut next = || it.next().unwrap();
        World {
            owner: next(),
            manager: next(),
            operator: next(),
            readonly: next(),
            scoped: next(),
            lacking: next(),
            outsider: next(),
            store,
            app,
            ws,
            other_ws,
            tenant_a,
            tenant_b,
            newbie,
            viewer_role,
            schedule,
        }
    }

    /// An active tenant of the workspace with writes open and a seeded
    /// sandbox connection (added through the store, as `atlas` would).
    pub async fn sandbox_tenant(&self, name: &str) -> Tenant {
        let t = self.store.tenant_create(self.ws.id, name, TenantStatus::Active, true, None, &cli()).await.unwrap();
        self.store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &cli()).await.unwrap();
        atlas_providers::sandbox::seed(&self.store, t.id).await.unwrap();
        t
    }

    /// Seeds the sandboxes of tenants A and B (their connections exist).
    pub async fn seed_sandboxes(&self) {
        for t in [&self.tenant_a, &self.tenant_b] {
            atlas_providers::sandbox::seed(&self.store, t.id).await.unwrap();
        }
    }

    /// Runs the worker until nothing is queued or running.
    pub async fn drain(&self) {
        tokio::time::timeout(Duration::from_secs(60), self.worker().run(true, std::future::pending::<()>()))
            .await
            .expect("the worker drains within a minute")
            .expect("the worker runs");
    }

    pub fn worker(&self) -> Worker {
        Worker::new(self.store.clone(), engine_config(), families::registry())
    }

    /// Starts an operation on `tenant` as `user` through the service.
    pub async fn start(&self, user: &User, tenant: &Tenant, op: OperationType, params: Value) -> atlas_core::run::Run {
        let req = StartRequest {
            user_id: user.id,
            workspace_id: self.ws.id,
            tenant_id: Some(tenant.id),
            op_type: op,
            params,
            retry_of_run_id: None,
            max_attempts: 3,
        };
        service::start(&self.store, req).await.expect("start allowed").run
    }

    /// A connection check by the owner on tenant A, blocked at claim because
    /// the connection was disabled meanwhile (then enabled again).
    pub async fn blocked_run(&self) -> atlas_core::run::Run {
        let run = self.start(&self.owner.user, &self.tenant_a, OperationType::ProviderConnectionCheck, json!({})).await;
        self.store.connection_set_status(self.tenant_a.id, false, &cli()).await.unwrap();
        self.worker().tick().await.unwrap();
        self.store.connection_set_status(self.tenant_a.id, true, &cli()).await.unwrap();
        let run = self.store.run_get(run.id).await.unwrap();
        assert_eq!(run.outcome, atlas_core::RunOutcome::Blocked);
        run
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn location(&self) -> String {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    }
}

/// How to authenticate a request.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    None,
    /// Session cookie; writes carry its CSRF token in the form.
    Cookie(&'a Login),
    Bearer(&'a Login),
}

/// Sends one request through the router. `form` bodies get the session's
/// CSRF token added (for cookie auth); `json` bodies are sent as they are.
pub async fn send(app: &Router, method: Method, path: &str, auth: Auth<'_>, body: Payload) -> Answer {
    send_with(app, method, path, auth, body, &[]).await
}

/// `send`, with extra request headers (`Host`, say).
pub async fn send_with(
    app: &Router,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Payload,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    match auth {
        Auth::None => {}
        Auth::Cookie(l) => req = req.header(header::COOKIE, format!("atlas_session={}", l.cookie)),
        Auth::Bearer(l) => req = req.header(header::AUTHORIZATION, format!("Bearer {}", l.token)),
    }
    let body = match body {
        Payload::Empty => Body::empty(),
        Payload::Form(mut pairs) => {
            if let Auth::Cookie(l) = auth {
                pairs.push(("csrf".into(), l.csrf.clone()));
            }
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(serde_urlencoded::to_string(pairs).unwrap())
        }
        Payload::RawForm(s) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(s)
        }
        Payload::Json(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        Payload::Raw(s) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(s)
        }
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let streaming = headers.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    let body = if streaming {
        // The live channel never ends by itself: its first event is enough.
        use futures_util::StreamExt;
        let mut stream = resp.into_body().into_data_stream();
        stream.next().await.map(|c| c.unwrap().to_vec()).unwrap_or_default()
    } else {
        axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024).await.unwrap().to_vec()
    };
    Answer { status, headers, body }
}

#[derive(Clone, Debug)]
pub enum Payload {
    Empty,
    /// Form fields; the CSRF token is added for cookie auth.
    Form(Vec<(String, String)>),
    /// A form body sent exactly as given (no token added).
    RawForm(String),
    Json(Value),
    /// A JSON body sent exactly as given.
    Raw(String),
}

pub fn form(pairs: &[(&str, &str)]) -> Payload {
    Payload::Form(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

pub async fn get(app: &Router, path: &str, auth: Auth<'_>) -> Answer {
    send(app, Method::GET, path, auth, Payload::Empty).await
}
