//! `atlas object-types list`: the object-type registry (SPEC §10.1), the one
//! table of the Intune object types the product reads, backs up and restores.

use atlas_core::object_type::{self, ObjectType};
use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum ObjectTypesCommand {
    /// Every registered type: key, Graph collection, assignment mode, restorable
    List,
}

fn line(t: &ObjectType) -> String {
    let paths: Vec<String> = t.collections.iter().map(|c| format!("{}/{}", c.version.as_str(), c.path)).collect();
    let restore = match t.read_only_reason() {
        Some(_) => "read-only".to_owned(),
        None => "restorable".to_owned(),
    };
    format!("{:<38} {:<13} {:<10} {}  ({})", t.key, t.assignment_mode(), restore, paths.join(", "), t.label)
}

pub async fn run(ctx: &Context, cmd: ObjectTypesCommand) -> Result<(), CliError> {
    let ObjectTypesCommand::List = cmd;
    ctx.out.print_list(object_type::all(), "no object types", line)
}
