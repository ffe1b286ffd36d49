//! Printing results: with `--json` one JSON document per command on stdout
//! (the domain object as the API serializes it), else short readable lines.
//! Errors go to stdout as `{"error": …}` with `--json`, else to stderr as one
//! `error: …` line.

use std::io::Write;

use serde::Serialize;
use serde_json::json;

use crate::error::CliError;

#[derive(Clone, Copy, Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// Prints one result: `value` as JSON, or the lines `human` renders.
    pub fn print<T: Serialize + ?Sized>(self, value: &T, human: impl FnOnce() -> String) -> Result<(), CliError> {
        let text = if self.json {
            serde_json::to_string(value).map_err(|e| CliError::internal(format!("cannot encode output: {e}")))?
        } else {
            human()
        };
        write_line(&mut std::io::stdout().lock(), &text)
    }

    /// Prints a list: a JSON array, or one line per item (`empty` when none).
    pub fn print_list<T: Serialize>(
        self,
        items: &[T],
        empty: &str,
        line: impl Fn(&T) -> String,
    ) -> Result<(), CliError> {
        self.print(items, || {
            if items.is_empty() {
                empty.to_owned()
            } else {
                items.iter().map(line).collect::<Vec<_>>().join("\n")
            }
        })
    }

    /// Reports an error; failing to print it is not worth another error.
    pub fn error(self, e: &CliError) {
        if self.json {
            let doc = json!({ "error": e });
            let _ = write_line(&mut std::io::stdout().lock(), &doc.to_string());
        } else {
            let _ = write_line(&mut std::io::stderr().lock(), &format!("error: {}", e.message.replace('\n', " ")));
        }
    }
}

/// Writes without panicking when the reader went away (`atlas … | head`):
/// a closed pipe ends the output quietly, as other tools do.
fn write_line(w: &mut impl Write, text: &str) -> Result<(), CliError> {
    match writeln!(w, "{text}").and_then(|()| w.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::internal(format!("cannot write output: {e}"))),
    }
}

/// A writer that remembers when its reader went away, so a long export can
/// end quietly instead of reporting the closed pipe as an error.
pub struct PipeWriter<W: Write> {
    inner: W,
    pub closed: bool,
}

impl<W: Write> PipeWriter<W> {
    pub fn new(inner: W) -> PipeWriter<W> {
        PipeWriter { inner, closed: false }
    }

    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                self.closed = true;
            }
        }
        r
    }
}

impl<W: Write> Write for PipeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

/// A time in this machine's zone with its offset: "2026-12-03 09:37:30 +01:00".
pub fn local_time(t: atlas_core::Timestamp) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_micros(t.micros()).single() {
        Some(local) => local.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        None => t.to_string(),
    }
}

/// An optional time, "—" when absent.
pub fn local_time_or_dash(t: Option<atlas_core::Timestamp>) -> String {
    t.map_or_else(|| "—".to_owned(), local_time)
}
