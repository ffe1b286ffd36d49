//! The JSON API (`/api/v1`, SPEC §7). Handlers get an authorized `Ctx` from
//! the guard and call the same application functions as the console.

pub mod audit;
pub mod changes;
pub mod impact;
pub mod json;
pub mod me;
pub mod members;
pub mod notifications;
pub mod openapi;
pub mod operations;
pub mod schedules;
pub mod tenants;
pub mod tokens;
