//! Console and API tests, in one binary (STYLE.md §5).

/// One test per case per dialect; the PostgreSQL half is skipped (loudly)
/// when no server answers, unless `ATLAS_TEST_PG=require`.
macro_rules! both_stores {
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

mod support;

mod admin;
mod auth;
mod bad_input;
mod blocked;
mod bulk;
mod matrix;
mod monitoring;
