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

/// Writes without panicking when the reader went away (`atlas … | head`).
fn write_line(w: &mut impl Write, text: &str) -> Result<(), CliError> {
    writeln!(w, "{text}").and_then(|()| w.flush()).map_err(|e| CliError::internal(format!("cannot write output: {e}")))
}
