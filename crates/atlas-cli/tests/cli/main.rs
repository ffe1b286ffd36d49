//! The `atlas` binary's tests, in one test binary (STYLE.md §5): each module
//! runs the real binary as separate processes.

/// One test per case per store; the PostgreSQL half is skipped (loudly, by the
/// testkit) when no server answers, unless `ATLAS_TEST_PG=require`.
macro_rules! cli_both_stores {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    super::$case($crate::support::Atlas::new());
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    let Some(atlas) = $crate::support::Atlas::postgres() else { return };
                    super::$case(atlas);
                }
            )+
        }
    };
}

mod support;

mod approvals;
mod audit_verify;
mod families_cli;
mod general;
mod names;
mod operator;
mod people;
mod preview;
mod runs;
mod scheduler_nodes;
mod serve;
mod tenants;
mod worker_processes;
