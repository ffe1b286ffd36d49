//! Console and API tests, in one binary (STYLE.md §5).

/// One test per case per dialect (see `atlas_store::dialect_tests`).
macro_rules! both_stores {
    ($($case:ident),+ $(,)?) => {
        atlas_store::dialect_tests!($($case),+);
    };
}

mod support;

mod admin;
mod approvals;
mod auth;
mod bad_input;
mod blocked;
mod bulk;
mod changes;
mod console;
mod control_chars;
mod matrix;
mod monitoring;
mod serving;
