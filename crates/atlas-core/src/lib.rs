//! The TenantAtlas domain, pure: no I/O, no async, no SQL.
//!
//! Everything that decides something lives here exactly once: the capability
//! registry, the operation-type registry, the run state machine, the legitimacy
//! gate (with the approval rule and the change-impact preview that reuse it),
//! summary counts and the badge mapping. The store and the engine apply what
//! these functions return.

pub mod access;
pub mod announce;
pub mod approval;
pub mod audit;
pub mod badge;
pub mod capability;
pub mod diff;
pub mod gate;
pub mod impact;
pub mod item;
pub mod object_type;
#[cfg(feature = "openapi")]
mod openapi;
pub mod operation;
pub mod params;
pub mod run;
pub mod summary;
pub mod tenant;
pub mod timestamp;
pub mod value;

pub use capability::{BuiltinRole, Capability, CapabilitySet, Role};
pub use object_type::ObjectType;
pub use operation::{AuthorityKind, OperationSpec, OperationType};
pub use params::OperationParams;
pub use run::{Run, RunEvent, RunOutcome, RunStatus};
pub use summary::SummaryCounts;
pub use tenant::{TenantScope, TenantStatus};
pub use timestamp::Timestamp;
