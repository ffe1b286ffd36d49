//! The server over real sockets: sign-in throttling by (account, client
//! address) from two loopback addresses, the header-read timeout, a declared
//! body over the limit refused before it is sent, `Cache-Control: no-store`
//! and HSTS behind https, `/metrics` behind a token or on its own address,
//! and `next=` kept to local paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use atlas_store::throttle::ThrottlePolicy;
use atlas_web::{Application, WebConfig};
use reqwest::header;
use reqwest::StatusCode;

use crate::support::{cli, engine_config, World};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const OWNER_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

struct Served {
    base: String,
    address: SocketAddr,
    metrics: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(store: atlas_store::Store, config: WebConfig) -> Served {
        let config = WebConfig { bind: SocketAddr::from(([127, 0, 0, 1], 0)), ..config };
        let app = Application::build(config, store, engine_config()).await.unwrap();
        let address = app.address();
        let metrics = app.metrics_address();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Served { base: format!("http://{address}"), address, metrics, stop: Some(stop), task }
    }

    async fn shut_down(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap().unwrap();
    }
}

fn client(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder().local_address(from).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// One sign-in through the form (its CSRF cookie first); the status.
async fn sign_in(c: &reqwest::Client, base: &str, email: &str, password: &str) -> StatusCode {
    let page = c.get(format!("{base}/login")).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("atlas_login_csrf="))
        .map(|v| v["atlas_login_csrf=".len()..].split(';').next().unwrap().to_owned())
        .expect("a sign-in token");
    let body = serde_urlencoded::to_string([("email", email), ("password", password), ("csrf", &cookie)]).unwrap();
    c.post(format!("{base}/login"))
        .header(header::COOKIE, format!("atlas_login_csrf={cookie}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

both_stores!(an_attackers_failures_do_not_lock_the_owner_out);

async fn an_attackers_failures_do_not_lock_the_owner_out(store: atlas_store::Store) {
    let throttle = ThrottlePolicy {
        free_failures: 2,
        first_delay: Duration::from_secs(60),
        address_max_failures: 6,
        ..ThrottlePolicy::default()
    };
    let owner = store.user_create("owner@example.com", "Owner", Some("the right one"), &cli()).await.unwrap();
    let served = Served::start(store.clone(), WebConfig { throttle, ..WebConfig::default() }).await;
    let (attacker, real) = (client(ATTACKER), client(OWNER_HOST));

    // From 127.0.0.2: two free failures, the third earns a delay, the fourth waits —
    // even with the right password.
    for _ in 0..3 {
        assert_eq!(sign_in(&attacker, &served.base, &owner.email, "guess").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sign_in(&attacker, &served.base, &owner.email, "the right one").await, StatusCode::TOO_MANY_REQUESTS);
    // From 127.0.0.1 the owner signs in at once.
    assert_eq!(sign_in(&real, &served.base, &owner.email, "the right one").await, StatusCode::SEE_OTHER);

    // The per-address limit: 127.0.0.2 trying other accounts is stopped for every account.
    for n in 0..3 {
        let status = sign_in(&attacker, &served.base, &format!("user{n}@example.com"), "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = sign_in(&attacker, &served.base, "someone-else@example.com", "guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the address is over its limit");
    assert_eq!(sign_in(&real, &served.base, &owner.email, "the right one").await, StatusCode::SEE_OTHER);
    served.shut_down().await;
}

/// Sends `request` on a raw connection and reads until the server answers or closes.
fn raw(address: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(address).unwrap();
    // A guard against a hanging test, not a measurement.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server neither answered nor closed the connection: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_limits_and_headers() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    let config = WebConfig {
        header_read_timeout: Duration::from_millis(300),
        metrics_token: Some("scrape-me".into()),
        ..WebConfig::default()
    }
    .with_public_url("https://atlas.example.com/")
    .unwrap();
    let served = Served::start(w.store.clone(), config).await;
    let address = served.address;

    // Half a request's headers: the server gives up on the connection by itself.
    let partial = tokio::task::spawn_blocking(move || raw(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")).await;
    let partial = partial.unwrap();
    assert!(partial.is_empty() || partial.starts_with("HTTP/1.1 408"), "{partial:?}");

    // A declared body over the limit is refused before a byte of it is sent.
    let req = format!(
        "POST /api/v1/me/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n",
        w.owner.token
    );
    let big = tokio::task::spawn_blocking(move || raw(address, req.as_bytes())).await.unwrap();
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
    assert!(big.to_ascii_lowercase().contains("content-type: application/json"), "413 in the API's shape: {big}");

    let c = client(OWNER_HOST);
    let me = c.get(format!("{}/api/v1/me", served.base)).bearer_auth(&w.owner.token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.headers()[header::CACHE_CONTROL], "no-store");
    assert!(me.headers()[header::STRICT_TRANSPORT_SECURITY].to_str().unwrap().starts_with("max-age="));
    let login = c.get(format!("{}/login", served.base)).send().await.unwrap();
    assert_eq!(login.headers()[header::CACHE_CONTROL], "no-store");
    let cookie = login.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("Secure"), "an https public address means Secure cookies: {cookie}");

    // `next=` only to a local path: a tab, a line break or a second slash go to the start page.
    for next in [
        "/%09/evil.example",
        "/%0a",
        "/%0d%0aSet-Cookie:x=1",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
    ] {
        let signed_in = c
            .get(format!("{}/login?next={next}", served.base))
            .header(header::COOKIE, format!("atlas_session={}", w.owner.cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(signed_in.headers()[header::LOCATION], "/", "{next}");
    }
    let local = c
        .get(format!("{}/login?next=/admin/tenants%3Fx%3D1", served.base))
        .header(header::COOKIE, format!("atlas_session={}", w.owner.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(local.headers()[header::LOCATION], "/admin/tenants?x=1");

    // /metrics: only with the token on the console's address.
    let anonymous = c.get(format!("{}/metrics", served.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = c.get(format!("{}/metrics", served.base)).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let scraped = c.get(format!("{}/metrics", served.base)).bearer_auth("scrape-me").send().await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("atlas_queue_depth"));
    served.shut_down().await;

    // Without a token /metrics is not on the console's address; a metrics address serves it alone.
    let config = WebConfig { metrics_bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))), ..WebConfig::default() };
    let served = Served::start(w.store.clone(), config).await;
    let off = c.get(format!("{}/metrics", served.base)).send().await.unwrap();
    assert_eq!(off.status(), StatusCode::NOT_FOUND);
    let metrics = served.metrics.unwrap();
    let open = c.get(format!("http://{metrics}/metrics")).send().await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    assert!(!open.headers().contains_key(header::STRICT_TRANSPORT_SECURITY), "plain http: no HSTS");
    let console = c.get(format!("http://{metrics}/api/v1/me")).bearer_auth(&w.owner.token).send().await.unwrap();
    assert_eq!(console.status(), StatusCode::NOT_FOUND, "the metrics address serves nothing else");
    served.shut_down().await;
}
