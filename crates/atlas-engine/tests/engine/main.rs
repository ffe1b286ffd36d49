//! The engine's integration tests, in one test binary (STYLE.md §5).

/// One test per case per dialect (see `atlas_store::dialect_tests`).
macro_rules! both_stores {
    ($($case:ident),+ $(,)?) => {
        atlas_store::dialect_tests!($($case),+);
    };
}

mod fake_graph;
mod support;

mod contract;
mod exactly_once;
mod execution;
mod families;
mod graph_contract;
mod impact;
mod pacing;
mod scheduler;
mod trust;
