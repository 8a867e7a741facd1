//! Finds `echarts.min.js` at build time so that reports can inline it (they must render offline).
//!
//! Looks at `$COPYBENCH_ECHARTS_JS`, else at `<workspace>/assets/node_modules/echarts/dist/
//! echarts.min.js` (put there by `scripts/install-deps.sh`). When found, the path goes to the
//! crate in `COPYBENCH_ECHARTS_JS_PATH` and `cfg(copybench_echarts_embedded)` is set so that
//! `src/echarts.rs` embeds it with `include_str!`. When not found the build still succeeds: a
//! report then needs `ReportOptions::echarts_js` (or the variable at run time).

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(copybench_echarts_embedded)");
    println!("cargo::rerun-if-env-changed=COPYBENCH_ECHARTS_JS");
    println!("cargo::rerun-if-changed=build.rs");

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let path = match env::var_os("COPYBENCH_ECHARTS_JS").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => manifest_dir.join("../../assets/node_modules/echarts/dist/echarts.min.js"),
    };
    // A missing path keeps this script re-running on every build, so that installing the asset
    // later is picked up without a `cargo clean`.
    println!("cargo::rerun-if-changed={}", path.display());

    if path.is_file() {
        let path = path.canonicalize().unwrap_or(path);
        println!("cargo::rustc-cfg=copybench_echarts_embedded");
        println!(
            "cargo::rustc-env=COPYBENCH_ECHARTS_JS_PATH={}",
            path.display()
        );
    } else {
        println!(
            "cargo::warning=echarts.min.js not found at {}: reports will need an explicit \
             ECharts path; run scripts/install-deps.sh (as root) and rebuild to embed it",
            path.display()
        );
    }
}
