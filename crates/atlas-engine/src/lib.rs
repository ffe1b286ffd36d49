//! Execution: starting runs (the start path), the worker (claim → handler →
//! finish, with lease heartbeats), its maintenance services (rescuer, audit
//! sealer), the scheduler, and the operation families.
//!
//! The chain is fixed — ensure legitimate → track run → handler — and the first
//! two links live in the store's claim transaction, so no family can skip them.
//! Families only do their work: a handler gets its run, a provider and a
//! fenced results handle (`HandlerContext`), not the store, so no family can
//! check authorization, write run state or send notifications.

pub mod changes;
mod completer;
pub mod config;
pub mod families;
pub mod handler;
pub mod impact;
mod outage;
pub mod pacing;
pub mod patience;
pub mod provider;
pub mod rescuer;
pub mod schedule;
pub mod scheduler;
pub mod sealer;
pub mod secrets;
pub mod service;
pub mod worker;

pub use config::EngineConfig;
pub use handler::{Handler, HandlerContext, HandlerError, HandlerOutput, Registry};
pub use provider::{ProviderConfig, Providers};
pub use service::{ServiceError, StartRequest};
pub use worker::Worker;
