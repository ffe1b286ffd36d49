//! Console and API tests, in one binary (STYLE.md §5).

mod support;

mod auth;
mod bad_input;
mod blocked;
mod matrix;
mod monitoring;
