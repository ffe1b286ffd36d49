//! `atlas migrate`: the context has already migrated; say so.

use atlas_store::Dialect;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;

pub fn run(ctx: &Context) -> Result<(), CliError> {
    let dialect = match ctx.store.dialect() {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
    };
    ctx.out.print(&json!({"migrated": true, "dialect": dialect}), || format!("schema up to date ({dialect})"))
}
