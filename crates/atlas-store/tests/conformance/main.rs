//! The store conformance suite: one set of cases, run against SQLite and
//! PostgreSQL. Each case is an `async fn(Store)`; `conformance!` in each case
//! file generates one `#[tokio::test]` per case per dialect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// `conformance!(case_a, case_b, …)` inside a case module: one test per case per dialect.
/// The PostgreSQL tests are skipped (loudly) when no server answers, unless
/// `ATLAS_TEST_PG=require`.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(atlas_store::testkit::sqlite().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = atlas_store::testkit::postgres().await else { return };
                    super::$case(store).await;
                }
            )+
        }
    };
}

mod admin;
mod audit;
mod fixture;
mod results;
mod run;
