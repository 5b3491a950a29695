//! `sqlx::migrate!` embeds `migrations/` at compile time; stable Rust cannot tell the compiler
//! that the macro read those files, so a new or changed migration must trigger the rebuild here.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
