//! The store conformance suite: one set of cases, run against SQLite and
//! PostgreSQL. Each case is an `async fn(Store)`; `conformance!` in each case
//! file generates one `#[tokio::test]` per case per dialect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// One test per case per dialect (see `atlas_store::dialect_tests`).
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        atlas_store::dialect_tests!($($case),+);
    };
}

mod admin;
mod approval;
mod audit;
mod fixture;
mod handle;
mod results;
mod run;
