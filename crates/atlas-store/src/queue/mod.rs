//! The run lifecycle, and the only code that writes `operation_runs`: start
//! (`start`: the gate's decision and the insert in one transaction), claim,
//! heartbeat and lease checks, finish and cancel, rescue, and progress.
//! Transitions go through one writer (`complete::write_transitions`) and
//! inserts through one (`complete::insert_runs`); a single write is a batch
//! of one, and each batch appends its audit events and notifications through
//! the one audit and notification writers. With the `testkit` feature only,
//! `seed` bulk-writes completed runs for the console benchmark.

mod approval;
pub mod claim;
pub(crate) mod complete;
pub(crate) mod lease;
mod progress;
pub mod run;
#[cfg(any(test, feature = "testkit"))]
pub mod seed;
pub mod start;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.rs` file under `dir`, with its path.
    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                out.push((path.display().to_string(), text));
            }
        }
    }

    #[test]
    fn only_the_queue_writes_operation_runs() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for krate in ["atlas-store", "atlas-engine", "atlas-web", "atlas-cli", "atlas-providers", "atlas-bench"] {
            sources(&crates.join(krate).join("src"), &mut files);
        }
        assert!(files.len() > 50, "the scan found the sources");
        let queue = Path::new("atlas-store").join("src").join("queue");
        let offenders: Vec<&str> = files
            .iter()
            .filter(|(path, _)| !path.contains(&*queue.to_string_lossy()))
            .filter(|(_, text)| {
                let flat = text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
                flat.contains("insert into operation_runs") || flat.contains("update operation_runs")
            })
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(offenders.is_empty(), "operation_runs is written outside queue/: {offenders:?}");
    }
}
