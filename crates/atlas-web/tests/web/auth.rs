//! Signing in and out, sessions, CSRF on the sign-in form, throttling, and
//! disabling a user ending their sessions and tokens at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_web::WebConfig;
use axum::http::{header, Method, StatusCode};

use crate::support::{cli, form, get, send, Auth, Payload, World};

fn cookie_value(a: &crate::support::Answer, name: &str) -> Option<String> {
    a.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v[name.len() + 1..].split(';').next().unwrap_or("").to_owned())
}

fn raw_login(email: &str, password: &str, token: &str) -> String {
    serde_urlencoded::to_string([("email", email), ("password", password), ("csrf", token), ("next", "/admin/tenants")])
        .unwrap()
}

async fn login_request(w: &World, email: &str, password: &str) -> crate::support::Answer {
    let page = get(&w.app, "/login", Auth::None).await;
    let token = cookie_value(&page, "atlas_login_csrf").expect("a sign-in token cookie");
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("atlas_login_csrf={token}"))
        .body(axum::body::Body::from(raw_login(email, password, &token)))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(w.app.clone(), req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec();
    crate::support::Answer { status, headers, body }
}

both_stores!(sign_in_sign_out_and_throttling, session_and_throttle_storage);

async fn sign_in_sign_out_and_throttling(store: atlas_store::Store) {
    let throttle = atlas_store::throttle::ThrottlePolicy {
        free_failures: 2,
        first_delay: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let config = WebConfig { throttle, ..WebConfig::default() };
    let w = World::with_config(store, config).await;
    let user = w.store.user_create("pat@example.com", "Pat Operator", Some("correct horse"), &cli()).await.unwrap();
    w.store
        .member_grant(
            w.ws.id,
            user.id,
            &atlas_store::admin::RoleRef::parse("operator"),
            &atlas_core::TenantScope::All,
            &cli(),
        )
        .await
        .unwrap();

    let ok = login_request(&w, "Pat@Example.com", "correct horse").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    assert_eq!(ok.location(), "/admin/tenants");
    let set = ok.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    let session_cookie = set.iter().find(|c| c.starts_with("atlas_session=")).expect("a session cookie");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"));
    assert!(!session_cookie.contains("Secure"), "not behind TLS in this test");
    let sid = cookie_value(&ok, "atlas_session").unwrap();
    let page = send_cookie(&w, Method::GET, "/admin/tenants", &sid, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Pat Operator"));

    // Wrong passwords: 401 with the form again, then 429 once throttled —
    // even for the right password.
    for _ in 0..3 {
        let bad = login_request(&w, "pat@example.com", "wrong").await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        assert!(bad.text().contains("The email or password is wrong."));
    }
    let throttled = login_request(&w, "pat@example.com", "correct horse").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.text().contains("Too many failed sign-ins"));

    // A sign-in without the form's token is refused.
    let forged = send(
        &w.app,
        Method::POST,
        "/login",
        Auth::None,
        Payload::RawForm(raw_login("pat@example.com", "correct horse", "guess")),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Logout ends the session.
    let token = w.store.session_get(&sid, std::time::Duration::from_secs(60)).await.unwrap().unwrap().csrf_token;
    let out = send_cookie(&w, Method::POST, "/logout", &sid, Some(format!("csrf={token}"))).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = send_cookie(&w, Method::GET, "/admin/tenants", &sid, None).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/login"));
}

async fn send_cookie(w: &World, method: Method, path: &str, sid: &str, form: Option<String>) -> crate::support::Answer {
    let mut req =
        axum::http::Request::builder().method(method).uri(path).header(header::COOKIE, format!("atlas_session={sid}"));
    if form.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let req = req.body(axum::body::Body::from(form.unwrap_or_default())).unwrap();
    let resp = tower::ServiceExt::oneshot(w.app.clone(), req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec();
    crate::support::Answer { status, headers, body }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_ends_sessions_and_tokens_at_once() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    assert_eq!(get(&w.app, "/admin/operations", Auth::Cookie(&w.operator)).await.status, StatusCode::OK);
    assert_eq!(get(&w.app, "/api/v1/operations", Auth::Bearer(&w.operator)).await.status, StatusCode::OK);
    w.store.user_disable(&w.operator.user.email, &cli()).await.unwrap();
    let page = get(&w.app, "/admin/operations", Auth::Cookie(&w.operator)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let api = get(&w.app, "/api/v1/operations", Auth::Bearer(&w.operator)).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    // A bearer header that does not authenticate is refused, not ignored.
    let bogus = send(&w.app, Method::GET, "/api/v1/me", Auth::None, Payload::Empty).await;
    assert_eq!(bogus.status, StatusCode::UNAUTHORIZED);
    let _ = form(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookies_behind_tls() {
    let config = WebConfig { secure_cookies: true, ..WebConfig::default() };
    let w = World::with_config(atlas_store::testkit::sqlite().await, config).await;
    let page = get(&w.app, "/login", Auth::None).await;
    let set = page.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
}

/// The store half of sessions and throttling, on both dialects.
async fn session_and_throttle_storage(store: atlas_store::Store) {
    use std::time::Duration;
    let w = World::new(store).await;
    let s = &w.store;
    let (id, session) = s.session_create(w.owner.user.id, Duration::from_secs(60)).await.unwrap();
    assert_ne!(id, session.id_hash, "only the hash is stored");
    let got = s.session_get(&id, Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!(got.user.id, w.owner.user.id);
    assert_eq!(got.csrf_token, session.csrf_token);
    s.session_set_workspace(&session.id_hash, w.ws.id).await.unwrap();
    s.session_set_flash(&session.id_hash, Some("hello")).await.unwrap();
    let got = s.session_get(&id, Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!((got.workspace_id, got.flash.as_deref()), (Some(w.ws.id), Some("hello")));
    assert!(s.session_get("not-a-session", Duration::from_secs(60)).await.unwrap().is_none());
    // An expired session is gone, and purged.
    let (old, _) = s.session_create(w.manager.user.id, Duration::ZERO).await.unwrap();
    assert!(s.session_get(&old, Duration::from_secs(60)).await.unwrap().is_none());
    assert!(s.sessions_purge_expired().await.unwrap() >= 1);
    s.session_delete(&session.id_hash).await.unwrap();
    assert!(s.session_get(&id, Duration::from_secs(60)).await.unwrap().is_none());
    assert_eq!(s.sessions_delete_for_user(w.owner.user.id).await.unwrap(), 1, "the World's own session");

    // Delays grow per (account, address); another address is not slowed.
    let policy = atlas_store::throttle::ThrottlePolicy {
        free_failures: 1,
        first_delay: Duration::from_secs(60),
        address_max_failures: 5,
        ..Default::default()
    };
    let (a, one, two) = ("a@example.com", "10.0.0.1", "10.0.0.2");
    assert_eq!(s.sign_in_failed(a, one, &policy).await.unwrap(), Duration::ZERO);
    assert!(s.sign_in_wait(a, one).await.unwrap().is_zero());
    assert_eq!(s.sign_in_failed(a, one, &policy).await.unwrap(), Duration::from_secs(60));
    assert_eq!(s.sign_in_failed(a, one, &policy).await.unwrap(), Duration::from_secs(120));
    let waiting = s.sign_in_wait(a, one).await.unwrap();
    assert!(waiting > Duration::from_secs(110) && waiting <= Duration::from_secs(120), "{waiting:?}");
    assert!(s.sign_in_wait(a, two).await.unwrap().is_zero(), "the account from another address");
    // A good sign-in forgets the pair, not the address's count.
    s.sign_in_succeeded(a, one).await.unwrap();
    assert!(s.sign_in_wait(a, one).await.unwrap().is_zero());
    // The address's limit covers every account: its fifth failure blocks the address.
    s.sign_in_failed("b@example.com", one, &policy).await.unwrap();
    let blocked = s.sign_in_failed("c@example.com", one, &policy).await.unwrap();
    assert!(blocked > Duration::from_secs(60), "blocked for the rest of the window: {blocked:?}");
    assert!(!s.sign_in_wait("d@example.com", one).await.unwrap().is_zero(), "any account from that address");
    assert!(s.sign_in_wait("d@example.com", two).await.unwrap().is_zero());
    assert_eq!(s.sign_in_failures_purge(Duration::from_secs(3600)).await.unwrap(), 0, "nothing stale yet");
}
