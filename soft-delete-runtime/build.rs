//! Sets `cfg(sqlite_trace)` where the guard reads SQLite's statement trace: feature `sqlite`
//! on any target but `wasm32-unknown-unknown` (where Diesel runs SQLite through
//! `sqlite-wasm-rs`, not `libsqlite3-sys`).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(sqlite_trace)");
    let family = std::env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let wasm_unknown = family.split(',').any(|f| f == "wasm") && os == "unknown";
    if std::env::var_os("CARGO_FEATURE_SQLITE").is_some() && !wasm_unknown {
        println!("cargo:rustc-cfg=sqlite_trace");
    }
}
