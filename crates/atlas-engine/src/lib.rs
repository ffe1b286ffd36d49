//! Execution: starting runs (the start path), the worker (claim → handler →
//! finish, with lease heartbeats and a rescuer), and the operation families.
//!
//! The chain is fixed — ensure legitimate → track run → handler — and the first
//! two links live in the store's claim transaction, so no family can skip them.
//! Families only do their work: no family checks authorization, writes run
//! state or sends notifications.

pub mod changes;
pub mod config;
pub mod families;
pub mod handler;
pub mod pacing;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod service;
pub mod worker;

pub use config::EngineConfig;
pub use handler::{Handler, HandlerContext, HandlerError, HandlerOutput, Registry};
pub use service::{ServiceError, StartRequest};
pub use worker::Worker;
