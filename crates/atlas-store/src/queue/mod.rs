//! The run lifecycle, and the only code that writes `operation_runs`: start
//! (`run`: the gate's decision and the insert in one transaction), claim,
//! heartbeat and lease checks, finish and cancel, rescue, and progress.
//! Transitions go through one writer (`complete::write_transitions`) and
//! inserts through one (`complete::insert_runs`); a single write is a batch
//! of one, and each batch appends its audit events and notifications through
//! the one audit and notification writers.

mod approval;
pub mod claim;
pub(crate) mod complete;
pub(crate) mod lease;
mod progress;
pub mod run;
