// `sqlx::migrate!` embeds the migration files at compile time; without this,
// an incremental build would keep the old set after a migration is added.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
