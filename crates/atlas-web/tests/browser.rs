//! The console in a real, headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver: an operator starts an inventory
//! sync and watches it succeed; a manager checks drift and reads its diff
//! (side by side and unified), previews a restore, queues it, closes the write
//! gate, and sees the restore Blocked with its reason in the viewer and in
//! their notifications. Along the way: Retry disabled with its reason while
//! the refusal holds, live rows and a live progress bar over the channel,
//! phone cards at 390×844, one timestamp format in the viewer's zone, and
//! axe-core (0 serious violations) in the light and the dark theme.
//! Screenshots go to `target/test-artifacts/`.
//!
//! Without chromedriver or chromium the test is skipped loudly, unless
//! `CI=true`, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atlas_core::capability::BuiltinRole;
use atlas_core::run::{RunEvent, RunOutcome};
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::{OperationType, SummaryCounts};
use atlas_engine::{families, service, EngineConfig, StartRequest, Worker};
use atlas_store::admin::{ChangeBy, RoleRef};
use atlas_store::claim::{ClaimParams, Claimed};
use atlas_store::Store;
use atlas_web::{Application, WebConfig};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::sync::oneshot;
use uuid::Uuid;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The sandbox's "Device restrictions" policy (its seed).
const DEVICE_RESTRICTIONS: &str = "8d4d2cd6-1c9c-4db1-937d-d03b94b09201";

fn tools_present() -> bool {
    let present = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !present {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "CI=true but {CHROMEDRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)");
        eprintln!(
            "\n!!! {CHROMEDRIVER} or {CHROMIUM} is missing: SKIPPING the browser test.\n\
             !!! Install them with `apt-get install -y chromium chromium-driver`.\n"
        );
    }
    present
}

fn engine_config() -> EngineConfig {
    EngineConfig {
        lease: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(50),
        poll_interval: Duration::from_millis(50),
        concurrency: 2,
        claim_batch: 4,
        reevaluate_interval: Duration::from_millis(100),
        max_attempts: 3,
    }
}

/// A worker running in this process until stopped.
struct WorkerTask {
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

impl WorkerTask {
    fn start(store: &Store) -> WorkerTask {
        let (stop, rx) = oneshot::channel::<()>();
        let worker = Worker::new(store.clone(), engine_config(), families::registry());
        let handle = tokio::spawn(async move {
            let _ = worker
                .run(false, async {
                    let _ = rx.await;
                })
                .await;
        });
        WorkerTask { stop, handle }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.await;
    }
}

/// chromedriver, killed when dropped (we started it; we end it by its handle).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_driver() -> (Driver, String) {
    let port = free_port();
    // The browser inherits the zone: times must show the viewer's (+05:30).
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .env("TZ", "Asia/Kolkata")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (driver, format!("http://127.0.0.1:{port}"))
}

/// A browser session; `dark` makes the page see `prefers-color-scheme: dark`.
async fn browser(webdriver: &str, profile: &Path, dark: bool) -> Client {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--window-size=1280,1000".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    if dark {
        args.push("--force-dark-mode".into());
        args.push("--blink-settings=preferredColorScheme=0".into());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), json!({ "binary": CHROMIUM, "args": args }));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a browser session")
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("browser-{name}.png")), png).unwrap();
}

async fn sign_in(c: &Client, base: &str, email: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("#email")).await.unwrap().send_keys(email).await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("header.topbar")).await.unwrap();
}

async fn sign_out(c: &Client) {
    c.find(Locator::XPath("//header//button[normalize-space()='Log out']")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#email")).await.unwrap();
}

/// Clicks a start button on the tenant page and returns the run's address
/// from the flash line's "View run →" link.
async fn start_from_tenant_page(c: &Client, op: &str) -> String {
    c.find(Locator::Css(&format!("form[data-op='{op}'] button[type=submit]"))).await.unwrap().click().await.unwrap();
    let link = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("p.flash a")).await.unwrap();
    let flash = c.find(Locator::Css("p.flash")).await.unwrap().text().await.unwrap();
    assert!(flash.contains("Operation queued."), "{flash}");
    let href = link.attr("href").await.unwrap().expect("View run links to the run");
    assert!(href.starts_with("/admin/operations/"), "{href}");
    href
}

/// Waits (reloading) until the run viewer shows `outcome`.
async fn wait_for_outcome(c: &Client, url: &str, outcome: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        c.goto(url).await.unwrap();
        let shown = c.find(Locator::Css(".run-head [data-outcome]")).await.unwrap().attr("data-outcome").await.unwrap();
        if shown.as_deref() == Some(outcome) {
            return;
        }
        assert!(Instant::now() < deadline, "the run at {url} did not reach {outcome} (shows {shown:?})");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits (without reloading: the live channel must bring it) until `script`
/// returns true in the page.
async fn wait_until(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        if v.as_bool() == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// axe-core, installed by scripts/test into the clone (never committed).
fn axe_source() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(_) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "CI=true but {} is missing (scripts/test installs it)", path.display());
            eprintln!("\n!!! {} is missing: SKIPPING the accessibility check.\n", path.display());
            None
        }
    }
}

/// Runs axe-core on the current page: no serious or critical violation.
async fn assert_accessible(c: &Client, axe: Option<&str>, page: &str) {
    let Some(axe) = axe else { return };
    c.execute(&format!("{axe}\nreturn true;"), vec![]).await.unwrap();
    let script = "var done = arguments[arguments.length - 1];\
        axe.run(document, {resultTypes: ['violations']}).then(function (r) {\
          done(JSON.stringify(r.violations.filter(function (v) { return v.impact === 'serious' || v.impact === 'critical'; })\
            .map(function (v) { return {id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(' '); })}; })));\
        }).catch(function (e) { done(JSON.stringify([{id: 'axe-error', help: String(e)}])); });";
    let found = c.execute_async(script, vec![]).await.unwrap();
    let found = found.as_str().unwrap_or("[]").to_owned();
    assert_eq!(found, "[]", "axe-core found serious violations on {page}");
}

/// Every time on the page reads one way: relative, then the exact time in
/// the viewer's zone with its offset (the browser runs in +05:30), and UTC
/// on hover.
async fn assert_one_time_format(c: &Client, page: &str) {
    let script = "return Array.from(document.querySelectorAll('time[datetime]')).map(function (t) {\
          var r = t.querySelector('.rel'), e = t.querySelector('.exact');\
          return [r ? r.textContent : '', e ? e.textContent : '', t.title, t.getAttribute('datetime')]; });";
    let times = c.execute(script, vec![]).await.unwrap();
    let times = times.as_array().unwrap();
    assert!(!times.is_empty(), "{page} shows times");
    for t in times {
        let [rel, exact, title, at] = [0, 1, 2, 3].map(|i| t[i].as_str().unwrap_or_default().to_owned());
        let relative = rel == "just now" || rel.ends_with(" ago") || rel.starts_with("in ");
        assert!(relative, "{page}: relative first, not {rel:?}");
        let local =
            exact.strip_suffix(" +05:30").unwrap_or_else(|| panic!("{page}: {exact:?} is not in the viewer's zone"));
        assert_eq!(local.len(), "2026-12-03 14:07:30".len(), "{page}: {exact:?}");
        let utc = format!("{} UTC", at.get(..19).unwrap_or_default().replace('T', " "));
        assert_eq!(title, utc, "{page}: UTC on hover");
    }
}

/// The page is no wider than the window (nothing scrolls sideways).
async fn assert_fits(c: &Client, page: &str) {
    let widths = c.execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![]).await.unwrap();
    let (scroll, inner) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
    assert!(scroll <= inner, "{page} is {scroll}px wide in a {inner}px window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_syncs_and_manager_sees_a_blocked_restore() {
    if !tools_present() {
        return;
    }
    let store = atlas_store::testkit::sqlite().await;
    let cli = ChangeBy::cli();
    let ws = store.workspace_create("contoso", "Contoso MSP", &cli).await.unwrap();
    let tenant = store.tenant_create(ws.id, "Contoso North", TenantStatus::Active, true, None, &cli).await.unwrap();
    store.schedule_add(tenant.id, "0 2 * * *", "Europe/Berlin", &cli).await.unwrap();
    store.connection_add(tenant.id, ConnectionKind::Sandbox, json!({}), None, &cli).await.unwrap();
    atlas_providers::sandbox::seed(&store, tenant.id).await.unwrap();
    for (email, name, role) in [
        ("olga@example.com", "Olga Operator", BuiltinRole::Operator),
        ("mona@example.com", "Mona Manager", BuiltinRole::Manager),
        ("otto@example.com", "Otto Owner", BuiltinRole::Owner),
    ] {
        let u = store.user_create(email, name, Some("let me in please"), &cli).await.unwrap();
        store.member_grant(ws.id, u.id, &RoleRef::Builtin(role), &TenantScope::All, &cli).await.unwrap();
    }

    let config = WebConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    let app = Application::build(config, store.clone(), engine_config()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop_app, app_stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = app_stopped.await;
    }));
    let mut worker = Some(WorkerTask::start(&store));

    let (_driver, webdriver) = start_driver().await;
    let profile = std::env::temp_dir().join(format!("atlas-chromium-{}", Uuid::now_v7()));
    let c = browser(&webdriver, &profile, false).await;
    let tenant_page = format!("{base}/admin/tenants/{}", tenant.id);

    // The operator syncs the inventory and follows "View run" to success.
    sign_in(&c, &base, "olga@example.com", "let me in please").await;
    assert!(c.current_url().await.unwrap().path().starts_with("/admin/fleet"), "the workspace's home is its fleet");
    c.goto(&tenant_page).await.unwrap();
    screenshot(&c, "1-tenant-page-operator").await;
    assert!(c.find(Locator::Css("form[data-op='restore.execute']")).await.is_err(), "an operator sees no restore");
    start_from_tenant_page(&c, "inventory.sync").await;
    c.find(Locator::Css("p.flash a")).await.unwrap().click().await.unwrap();
    let sync_url = c.current_url().await.unwrap().to_string();
    wait_for_outcome(&c, &sync_url, "succeeded").await;
    let head = c.find(Locator::Css(".run-head h1")).await.unwrap().text().await.unwrap();
    assert_eq!(head, "Inventory sync · Contoso North");
    screenshot(&c, "2-sync-succeeded").await;
    sign_out(&c).await;

    // The manager needs a backup set to restore: the backup family's when it
    // exists in this build, else one recorded directly.
    sign_in(&c, &base, "mona@example.com", "let me in please").await;
    c.goto(&tenant_page).await.unwrap();
    if families::registry().get(OperationType::BackupRun).is_some() {
        let backup = start_from_tenant_page(&c, "backup.run").await;
        wait_for_outcome(&c, &format!("{base}{backup}"), "succeeded").await;
    } else {
        let id = Uuid::now_v7();
        store
            .execute_raw(&format!(
                "INSERT INTO backup_sets (id, workspace_id, tenant_id, run_id, item_count, created_at) \
                 VALUES ('{id}', '{}', '{}', NULL, 0, {})",
                ws.id,
                tenant.id,
                atlas_store::now().micros()
            ))
            .await
            .unwrap();
    }

    let axe = axe_source();
    // Someone edits a policy in the portal; a drift check finds it, and the
    // diff page shows the changed setting side by side, highlighted.
    let mut edited =
        store.sandbox_object(tenant.id, "device_configuration", DEVICE_RESTRICTIONS).await.unwrap().unwrap();
    edited.payload["passwordMinimumLength"] = json!(15);
    store
        .sandbox_out_of_band_update(tenant.id, "device_configuration", DEVICE_RESTRICTIONS, &edited.payload)
        .await
        .unwrap();
    if families::registry().get(OperationType::BackupRun).is_some() {
        c.goto(&tenant_page).await.unwrap();
        let drift = start_from_tenant_page(&c, "drift.check").await;
        wait_for_outcome(&c, &format!("{base}{drift}"), "succeeded").await;
        c.goto(&tenant_page).await.unwrap();
        let line = c.find(Locator::Css("dd[data-drift] a")).await.unwrap();
        assert!(line.text().await.unwrap().starts_with("1 change since the backup of "));
        line.click().await.unwrap();
        let row = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(&format!(
                "details[data-object-id='{DEVICE_RESTRICTIONS}'] tr[data-change='changed']"
            )))
            .await
            .unwrap();
        let cells = row.text().await.unwrap();
        assert!(cells.contains("/passwordMinimumLength") && cells.contains("15"), "{cells}");
        let after =
            c.find(Locator::Css(&format!("details[data-object-id='{DEVICE_RESTRICTIONS}'] td.ins"))).await.unwrap();
        assert_eq!(after.text().await.unwrap(), "15");
        let bg: String = c
            .execute("return getComputedStyle(document.querySelector('td.ins')).backgroundColor", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_ne!(bg, "rgba(0, 0, 0, 0)", "the changed side is highlighted");
        screenshot(&c, "2b-drift-diff").await;
        assert_accessible(&c, axe.as_deref(), "the drift diff").await;
        assert_one_time_format(&c, "the drift diff").await;
        c.find(Locator::LinkText("Unified")).await.unwrap().click().await.unwrap();
        let line = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("ul.unified li[data-change='changed']"))
            .await
            .unwrap();
        assert!(line.text().await.unwrap().contains("/passwordMinimumLength"));
        assert_accessible(&c, axe.as_deref(), "the unified diff").await;
    }

    // The restore form previews first; its plan comes with the real restore.
    c.goto(&tenant_page).await.unwrap();
    assert!(c.find(Locator::Css("form[data-step='restore']")).await.is_err(), "no restore before its preview");
    let preview = start_from_tenant_page(&c, "restore.execute").await;
    wait_for_outcome(&c, &format!("{base}{preview}"), "succeeded").await;

    // Queue the real restore while no worker runs, then close the write gate
    // before one does.
    if let Some(w) = worker.take() {
        w.stop().await;
    }
    c.goto(&tenant_page).await.unwrap();
    let plan = c.find(Locator::Css("div.preview p")).await.unwrap().text().await.unwrap();
    assert!(plan.contains("Preview of the backup of") && plan.contains("Would create"), "{plan}");
    c.find(Locator::Css("form[data-step='restore'] button[type=submit]")).await.unwrap().click().await.unwrap();
    let link = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("p.flash a")).await.unwrap();
    let restore = link.attr("href").await.unwrap().expect("View run links to the run");
    c.goto(&format!("{tenant_page}/settings")).await.unwrap();
    c.find(Locator::XPath("//button[normalize-space()='Close write gate']")).await.unwrap().click().await.unwrap();
    // Closing it would block the queued restore: a confirmation step first (SPEC §10.2).
    let summary =
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("[data-impact-summary]")).await.unwrap();
    assert_eq!(summary.text().await.unwrap(), "This change will block 1 queued run.");
    let link = c.find(Locator::Css("ul.affected li[data-affected='queued'] a")).await.unwrap();
    assert_eq!(link.attr("href").await.unwrap().as_deref(), Some(restore.as_str()), "a link to the run");
    let item = c.find(Locator::Css("ul.affected li")).await.unwrap().text().await.unwrap();
    assert!(item.contains("write_gate_closed"), "{item}");
    screenshot(&c, "3a-confirm-change").await;
    assert_accessible(&c, axe_source().as_deref(), "the confirmation step").await;
    assert!(store.tenant_get(tenant.id).await.unwrap().writes_enabled, "nothing changed before the confirmation");
    c.find(Locator::XPath("//button[normalize-space()='Apply the change']")).await.unwrap().click().await.unwrap();
    let flash = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("p.flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "Write gate closed.");
    worker = Some(WorkerTask::start(&store));

    // The viewer: Blocked, the decision's message, the reason code, the remedy.
    let restore_url = format!("{base}{restore}");
    wait_for_outcome(&c, &restore_url, "blocked").await;
    let panel = c.find(Locator::Css("section.panel-refusal")).await.unwrap().text().await.unwrap();
    assert!(panel.contains("Blocked — policy refusal"), "{panel}");
    assert!(panel.contains("The write gate of Contoso North is closed."), "{panel}");
    assert!(panel.contains("write_gate_closed"), "{panel}");
    assert!(panel.contains("Open the write gate in tenant settings, then Retry."), "{panel}");
    let badge = c.find(Locator::Css(".run-head [data-outcome]")).await.unwrap().text().await.unwrap();
    assert_eq!(badge, "Blocked");
    assert!(c.find(Locator::Css("section.panel-failure")).await.is_err(), "blocked never looks failed");
    screenshot(&c, "3-restore-blocked").await;
    // The gate is still closed: Retry would be refused the same way, so it is
    // disabled, with the reason and a link to the setting that fixes it.
    let retry = c.find(Locator::Css("button[data-retry='disabled']")).await.unwrap();
    assert!(!retry.is_enabled().await.unwrap(), "Retry is disabled while the refusal holds");
    let why = c.find(Locator::Css("[data-retry-reason]")).await.unwrap().text().await.unwrap();
    assert!(why.contains("The write gate of Contoso North is closed."), "{why}");
    let fix = c.find(Locator::Css("[data-retry-reason] a")).await.unwrap().attr("href").await.unwrap();
    assert_eq!(fix.as_deref(), Some(format!("/admin/tenants/{}/settings", tenant.id).as_str()));
    assert_accessible(&c, axe.as_deref(), "the blocked run").await;
    assert_one_time_format(&c, "the blocked run").await;

    // The manager's notification says so too.
    c.goto(&format!("{base}/admin/notifications")).await.unwrap();
    let item = c.find(Locator::Css("ul.notice li")).await.unwrap();
    let text = item.text().await.unwrap();
    assert!(
        text.contains("Restore on Contoso North was blocked: the write gate of Contoso North is closed."),
        "{text}"
    );
    assert!(c.find(Locator::Css("ul.notice li [data-outcome='blocked']")).await.is_ok());
    screenshot(&c, "4-notifications").await;

    // And the list shows it Blocked, with its reason.
    c.goto(&format!("{base}/admin/operations")).await.unwrap();
    let list = c.source().await.unwrap();
    assert!(list.contains("data-outcome=\"blocked\"") && list.contains("write_gate_closed"));
    screenshot(&c, "5-operations-list").await;
    c.goto(&format!("{base}/admin/audit")).await.unwrap();
    assert!(c.source().await.unwrap().contains("operation.blocked"));
    screenshot(&c, "6-audit").await;
    c.goto(&format!("{tenant_page}/schedules")).await.unwrap();
    screenshot(&c, "7-schedules").await;
    c.goto(&tenant_page).await.unwrap();
    screenshot(&c, "8-tenant-page-manager").await;

    for (page, url) in [
        ("the operations list", format!("{base}/admin/operations")),
        ("the tenant page", tenant_page.clone()),
        ("the audit log", format!("{base}/admin/audit")),
        ("the notifications", format!("{base}/admin/notifications")),
        ("the schedules", format!("{tenant_page}/schedules")),
    ] {
        c.goto(&url).await.unwrap();
        assert_accessible(&c, axe.as_deref(), page).await;
        assert_one_time_format(&c, page).await;
    }

    // Live: an idle list shows a run started elsewhere, without a reload.
    if let Some(w) = worker.take() {
        w.stop().await;
    }
    c.goto(&format!("{base}/admin/operations")).await.unwrap();
    wait_until(&c, "the live channel", "return document.documentElement.getAttribute('data-live') === 'up';").await;
    let mona = store.user_by_email("mona@example.com").await.unwrap();
    let elsewhere = service::start(
        &store,
        StartRequest {
            user_id: mona.id,
            workspace_id: ws.id,
            tenant_id: Some(tenant.id),
            op_type: OperationType::ComplianceSnapshot,
            params: json!({}),
            retry_of_run_id: None,
            max_attempts: 3,
        },
    )
    .await
    .unwrap()
    .run;
    let row = format!("return !!document.querySelector(\"tr[data-run='{}']\");", elsewhere.id);
    wait_until(&c, "the new run on the idle list", &row).await;
    screenshot(&c, "10-live-list").await;

    // Progress: the run is claimed and reports counts through the store, as a
    // family does; the viewer's bar follows without a reload.
    let params = ClaimParams { worker: "browser-test".into(), lease_ms: 60_000, batch: 4, backoff_base_ms: 50 };
    let claimed = store.run_claim_and_authorize(&params).await.unwrap();
    let running = claimed
        .into_iter()
        .find_map(|c| match c {
            Claimed::Started(r) if r.id == elsewhere.id => Some(r),
            _ => None,
        })
        .expect("the run starts");
    let token = running.lease.as_ref().unwrap().token;
    c.goto(&format!("{base}/admin/operations/{}", running.id)).await.unwrap();
    wait_until(&c, "the live channel", "return document.documentElement.getAttribute('data-live') === 'up';").await;
    for done in [3_u64, 7] {
        let counts = SummaryCounts { total: 10, succeeded: done, ..Default::default() }.recount();
        store.run_progress(running.id, token, &counts).await.unwrap();
        let bar = format!("var p = document.querySelector('[data-progress] progress'); return !!p && p.value == {done} && p.max == 10;");
        wait_until(&c, &format!("the progress bar at {done} of 10"), &bar).await;
    }
    screenshot(&c, "11-live-progress").await;
    let counts = SummaryCounts { total: 10, succeeded: 10, ..Default::default() }.recount();
    let event = RunEvent::Complete { outcome: RunOutcome::Succeeded, counts, result: json!({}), failures: vec![] };
    store.run_finish(running.id, token, event).await.unwrap();
    wait_until(
        &c,
        "the viewer to show the run succeeded",
        "var b = document.querySelector('.run-head [data-outcome]'); return !!b && b.getAttribute('data-outcome') === 'succeeded';",
    )
    .await;

    // Phones (390×844): runs as stacked cards, nothing wider than the screen,
    // the viewer's raw JSON included.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/admin/operations")).await.unwrap();
    assert_fits(&c, "the operations list").await;
    let card = c
        .execute(
            "var td = document.querySelector('table.runs tbody td'); return td ? getComputedStyle(td).display : '';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(card.as_str(), Some("block"), "runs are stacked cards on a phone");
    let badge_visible = c
        .execute(
            "var b = document.querySelector('table.runs tbody [data-outcome]'); var r = b.getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(badge_visible.as_bool(), Some(true), "the outcome badge is on screen");
    screenshot(&c, "12-phone-list").await;
    c.goto(&restore_url).await.unwrap();
    c.execute("document.querySelectorAll('details').forEach(function (d) { d.open = true; }); return true;", vec![])
        .await
        .unwrap();
    assert_fits(&c, "the run viewer with its raw JSON open").await;
    screenshot(&c, "13-phone-viewer").await;
    c.set_window_size(1280, 1000).await.unwrap();

    // The owner manages members.
    sign_out(&c).await;
    sign_in(&c, &base, "otto@example.com", "let me in please").await;
    c.goto(&format!("{base}/admin/members")).await.unwrap();
    assert!(c.source().await.unwrap().contains("mona@example.com"));
    screenshot(&c, "9-members").await;

    // Approval (SPEC §10.2): the owner requires it and opens the write gate;
    // the manager's restore waits, shown "Awaiting approval"; the owner approves it.
    c.goto(&format!("{tenant_page}/settings")).await.unwrap();
    c.find(Locator::XPath("//button[normalize-space()='Require approval']")).await.unwrap().click().await.unwrap();
    let flash = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("p.flash")).await.unwrap();
    assert!(flash.text().await.unwrap().starts_with("Approval required"));
    c.find(Locator::XPath("//button[normalize-space()='Open write gate']")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("p.flash")).await.unwrap();
    let set = store.backup_sets_for_tenant(tenant.id, 1).await.unwrap().first().map(|s| s.id).expect("a backup set");
    let waiting = service::start(
        &store,
        StartRequest {
            user_id: mona.id,
            workspace_id: ws.id,
            tenant_id: Some(tenant.id),
            op_type: OperationType::RestoreExecute,
            params: json!({"backup_set_id": set, "dry_run": false}),
            retry_of_run_id: None,
            max_attempts: 3,
        },
    )
    .await
    .unwrap()
    .run;
    c.goto(&format!("{base}/admin/operations?status=awaiting_approval")).await.unwrap();
    let row = c.find(Locator::Css(&format!("tr[data-run='{}'] [data-status]", waiting.id))).await.unwrap();
    assert_eq!(row.attr("data-status").await.unwrap().as_deref(), Some("awaiting_approval"));
    assert_eq!(row.text().await.unwrap(), "Awaiting approval");
    screenshot(&c, "15-awaiting-approval").await;
    c.goto(&format!("{base}/admin/operations/{}", waiting.id)).await.unwrap();
    assert_accessible(&c, axe.as_deref(), "a run awaiting approval").await;
    c.find(Locator::XPath("//button[normalize-space()='Approve']")).await.unwrap().click().await.unwrap();
    let flash = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("p.flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "Approved: the run will start.");
    let approval = c.find(Locator::Css("section.approval")).await.unwrap();
    assert_eq!(approval.attr("data-approval").await.unwrap().as_deref(), Some("approved"));
    assert!(approval.text().await.unwrap().contains("Approved by Otto Owner"));
    assert!(c.find(Locator::XPath("//button[normalize-space()='Approve']")).await.is_err(), "decided once");
    screenshot(&c, "16-approved").await;

    c.close().await.unwrap();

    // Dark (prefers-color-scheme: dark): the same pages, still accessible.
    let dark_profile = std::env::temp_dir().join(format!("atlas-chromium-{}", Uuid::now_v7()));
    let d = browser(&webdriver, &dark_profile, true).await;
    sign_in(&d, &base, "otto@example.com", "let me in please").await;
    let is_dark = d.execute("return window.matchMedia('(prefers-color-scheme: dark)').matches;", vec![]).await.unwrap();
    assert_eq!(is_dark.as_bool(), Some(true), "the browser prefers dark");
    let background = d.execute("return getComputedStyle(document.body).backgroundColor;", vec![]).await.unwrap();
    assert_eq!(background.as_str(), Some("rgb(11, 17, 32)"), "the console follows it");
    for (page, url) in [
        ("the operations list (dark)", format!("{base}/admin/operations")),
        ("the blocked run (dark)", restore_url.clone()),
        ("the tenant page (dark)", tenant_page.clone()),
        ("the tenant settings (dark)", format!("{tenant_page}/settings")),
        ("the audit log (dark)", format!("{base}/admin/audit")),
        ("the notifications (dark)", format!("{base}/admin/notifications")),
        ("the schedules (dark)", format!("{tenant_page}/schedules")),
        ("the members (dark)", format!("{base}/admin/members")),
    ] {
        d.goto(&url).await.unwrap();
        assert_accessible(&d, axe.as_deref(), page).await;
    }
    d.goto(&restore_url).await.unwrap();
    screenshot(&d, "14-dark-viewer").await;
    d.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dark_profile);

    if let Some(w) = worker.take() {
        w.stop().await;
    }
    let _ = stop_app.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&profile);
}
