//! copybench-core as a library: one point, measured on loopback. This is the README's
//! "As a library" example; `cargo test` builds it and a test checks that the README shows
//! these very lines, so the promise to embedders cannot rot.

use std::sync::atomic::AtomicBool;

use copybench_core::engine::{run_point, Endpoints, NoHooks, PointParams};
use copybench_core::StrategyKind;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // README: begin
    let params = PointParams::new(StrategyKind::ZeroCopy, 64 << 10, 2);
    let point = run_point(
        &params,
        &Endpoints::loopback(),
        &NoHooks,
        &AtomicBool::new(false),
    )?;
    println!(
        "{:.2} Gbps, verified: {}",
        point.throughput_gbps, point.verified
    );
    // README: end
    Ok(())
}
