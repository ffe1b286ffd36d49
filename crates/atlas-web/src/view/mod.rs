//! HTML rendering (maud): the frame, badges, times, and the pieces of each
//! page. No handler logic here, and no access decisions: views receive what
//! the handlers decided.

pub mod assets;
pub mod audit_line;
pub mod badge;
pub mod cron;
pub mod diff;
pub mod error;
pub mod form;
pub mod health;
pub mod icon;
pub mod layout;
pub mod run_detail;
pub mod runs;
pub mod time;
