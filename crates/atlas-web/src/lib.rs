//! The TenantAtlas console (server-rendered HTML) and JSON API (`/api/v1`).
//!
//! Every route is declared once in `routes::routes()` with its surface (page,
//! API or public) and its access scope; `routes::router` builds the axum router
//! from that table and wraps every route in the one access guard
//! (`guard.rs`, SPEC §6.2). Handlers receive an already-authorized `Ctx` and
//! call the same application functions (`atlas_engine::service`) from the
//! console and the API; errors map to HTTP once, in `error.rs`, and differ
//! between the two surfaces only in how they are rendered.

mod api;
mod auth;
mod bulk;
mod ctx;
mod error;
mod errors;
mod flash;
mod guard;
mod live;
mod ops;
mod pages;
mod preview;
mod query;
mod seal;
mod view;

pub mod config;
pub mod routes;
pub mod startup;
pub mod state;

pub use config::WebConfig;
pub use error::ApiError;
pub use routes::{router, routes, Need, RouteSpec, Scope, Surface};
pub use startup::Application;
pub use state::AppState;
