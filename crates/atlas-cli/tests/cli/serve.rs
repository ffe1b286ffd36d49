//! `atlas serve --demo` as a process (issue 16 item 14): it says where the
//! database is, that workers and the scheduler run inside, and how to point
//! the CLI at the same data — and that advice works while it serves; a GET
//! of a POST-only console path answers a page in the console's style.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::TEST_SECRET_KEY;

/// The server, stopped by its own handle when the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One plain HTTP/1.1 GET; the whole answer as text.
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_demo_says_where_the_data_is_and_how_to_reach_it() {
    let url = atlas_store::testkit::sqlite_url();
    let file = url.strip_prefix("sqlite://").unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .env("ATLAS_DATABASE_URL", &url)
        .env("ATLAS_SECRET_KEY", TEST_SECRET_KEY)
        .env_remove("ATLAS_PUBLIC_URL")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("atlas serve starts");
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);

    // Everything it says up to its last line of advice.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    while said.last().is_none_or(|l: &String| l.trim() != "atlas runs list") {
        said.push(rx.recv_timeout(Duration::from_secs(120)).expect("serve --demo prints its advice"));
    }
    let text = said.join("\n");

    let port: u16 = said[0]
        .strip_prefix("TenantAtlas is serving at http://127.0.0.1:")
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("the address first: {text}"));
    assert!(text.contains("Demo workspace `demo` seeded"), "{text}");
    assert!(text.contains("manager   manager@demo.test"), "the logins: {text}");
    let canonical = std::fs::canonicalize(&file).unwrap();
    assert!(text.contains(&format!("Database: SQLite file {}", canonical.display())), "where the data is: {text}");
    assert!(text.contains("Workers and the scheduler run inside this process"), "{text}");
    let export = format!("export ATLAS_DATABASE_URL='{url}' ATLAS_PUBLIC_URL='http://127.0.0.1:{port}'");
    assert!(text.contains(&export), "how to point the CLI at it: {text}");

    // The advice works while the server runs.
    let list = Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["runs", "list"])
        .env("ATLAS_DATABASE_URL", &url)
        .env("ATLAS_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("ATLAS_SECRET_KEY", TEST_SECRET_KEY)
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.status.code(), Some(0), "{list:?}");
    assert!(rows.contains("Restore preview") && rows.contains("blocked [write_gate_closed]"), "{rows}");

    // A POST-only console path answers GET with a console page, not a bare 405.
    let answer = http_get(port, "/logout");
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-type: text/html"), "{answer}");
    assert!(answer.contains("<link rel=\"stylesheet\" href=\"/static/app.css\">"), "in the console's style: {answer}");
    assert!(answer.contains("This address does not accept GET requests"), "{answer}");
}
