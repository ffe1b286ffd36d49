//! The fake Graph for tests/graph.rs: a wiremock server answering with the
//! fixtures, a provider pointed at it, and a clock that records waits.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use atlas_providers::graph::secret::SecretString;
use atlas_providers::graph::{Clock, GraphConfig, GraphProvider};
use atlas_providers::WriteFence;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{body_string_contains, header, method, path, HeaderExactMatcher};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TENANT: &str = "1e250c70-dff6-4e52-8690-a9c144e7cf0f";
pub const CLIENT_ID: &str = "8db8df93-edd5-4cd5-86b3-bc355166765c";
pub const SECRET: &str = "fixture~Secret.Value_do-not-log-1234567890";

macro_rules! fixture_text {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/graph/", $name))
    };
}
pub(crate) use fixture_text;

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<serde_json::Value>($crate::graph_support::fixture_text!($name)).unwrap()
    };
}
pub(crate) use fixture;

/// The access token of token.json (the four required roles).
pub fn fixture_token() -> String {
    fixture!("token.json")["access_token"].as_str().unwrap().to_owned()
}

/// An unsigned JWT granting `roles` (the provider never checks signatures).
pub fn token_with_roles(roles: &[&str]) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(json!({"typ": "JWT", "alg": "RS256", "kid": "test-key-not-real"})),
        part(json!({"tid": TENANT, "appid": CLIENT_ID, "app_displayname": "Test app", "roles": roles})),
        URL_SAFE_NO_PAD.encode("not-a-signature"),
    )
}

pub fn token_body(access_token: &str) -> Value {
    json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access_token})
}

pub fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

pub fn fence() -> WriteFence {
    WriteFence { run_id: Uuid::now_v7(), lease_token: Uuid::new_v4() }
}

/// Never sleeps: records each requested wait and moves its time on by it.
pub struct TestClock {
    base: Instant,
    offset: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
}

impl TestClock {
    pub fn new() -> TestClock {
        TestClock { base: Instant::now(), offset: Mutex::new(Duration::ZERO), sleeps: Mutex::new(Vec::new()) }
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }

    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }
}

#[async_trait]
impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.base + *self.offset.lock().unwrap()
    }

    async fn sleep(&self, duration: Duration) {
        self.sleeps.lock().unwrap().push(duration);
        self.advance(duration);
    }
}

pub struct Fake {
    pub clock: Arc<TestClock>,
    pub provider: GraphProvider,
    pub server: MockServer,
}

impl Fake {
    pub async fn start() -> Fake {
        Fake::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut GraphConfig)) -> Fake {
        let server = MockServer::start().await;
        let mut config = GraphConfig::new(TENANT, CLIENT_ID, SecretString::new(SECRET))
            .with_urls(&format!("{}/", server.uri()), &server.uri());
        config.max_retries = 3;
        config.request_timeout = Duration::from_secs(5);
        adjust(&mut config);
        let clock = Arc::new(TestClock::new());
        let provider = GraphProvider::with_clock(config, clock.clone()).unwrap();
        Fake { clock, provider, server }
    }

    pub fn url(&self, rest: &str) -> String {
        format!("{}{rest}", self.server.uri())
    }

    /// The token endpoint, answering `access_token`, expected `calls` times.
    /// It also checks the client-credentials form.
    pub async fn token(&self, access_token: &str, calls: u64) {
        self.token_mock(access_token).expect(calls).mount(&self.server).await;
    }

    pub fn token_mock(&self, access_token: &str) -> Mock {
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .and(body_string_contains("grant_type=client_credentials"))
            .and(body_string_contains(format!("client_id={CLIENT_ID}")))
            .and(body_string_contains("client_secret="))
            .and(body_string_contains("scope=http%3A%2F%2F127.0.0.1"))
            .respond_with(json_response(200, &token_body(access_token)))
    }

    /// Method and path of every request the fake received, in order.
    pub async fn requests(&self) -> Vec<(String, String)> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| (r.method.to_string(), r.url.path().to_owned()))
            .collect()
    }
}

pub fn token_request() -> (String, String) {
    ("POST".into(), format!("/{TENANT}/oauth2/v2.0/token"))
}

pub fn request(m: &str, p: &str) -> (String, String) {
    (m.into(), p.into())
}

pub fn bearer(token: &str) -> HeaderExactMatcher {
    header("authorization", format!("Bearer {token}").as_str())
}

/// `GET {path}` answering `body`, with the fixture token.
pub async fn serve(fake: &Fake, p: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(p))
        .and(bearer(&fixture_token()))
        .respond_with(json_response(200, &body))
        .mount(&fake.server)
        .await;
}

/// A page of `n` device configurations shaped like page 1's, with new ids.
pub fn generated_page(start: usize, n: usize, next: Option<String>) -> (Value, Vec<String>) {
    let shapes = fixture!("v1.0_deviceManagement_deviceConfigurations_page1.json")["value"].as_array().unwrap().clone();
    let mut ids = Vec::new();
    let items: Vec<Value> = (start..start + n)
        .map(|i| {
            let mut item = shapes[i % shapes.len()].clone();
            let id = format!("00000000-0000-4000-8000-{i:012}");
            item["id"] = json!(id);
            item["displayName"] = json!(format!("[Generated] Windows - Profile {i:03}"));
            ids.push(id);
            item
        })
        .collect();
    let mut page = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/deviceConfigurations", "value": items});
    if let Some(next) = next {
        page["@odata.nextLink"] = json!(next);
    }
    (page, ids)
}

pub fn ids_of(page: &Value) -> Vec<String> {
    page["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

/// The body a write sends: the payload less the type's server-managed members.
pub fn writable(kind: atlas_providers::Kind, payload: &Value) -> Value {
    let mut body = payload.clone();
    body.as_object_mut().unwrap().retain(|k, _| !kind.is_server_managed(k));
    body
}
