//! `doctor`'s checks of issue 25's send paths: `sendfile` and `splice`, each run for 100 ms
//! over loopback with the receiver verifying every byte.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, NoHooks, PointParams};
use copybench_core::StrategyKind;

use super::{check, Check};

/// A short verified loopback point of a strategy: what it says, or why it failed.
fn probe(strategy: StrategyKind) -> Result<String, String> {
    let mut p = PointParams::new(strategy, 64 << 10, 1);
    p.warmup = Duration::ZERO;
    p.duration = Duration::from_millis(100);
    let point = run_point(
        &p,
        &Endpoints::loopback(),
        &NoHooks,
        &AtomicBool::new(false),
    )
    .map_err(|e| e.to_string())?;
    if !point.verified {
        return Err(format!(
            "ran but the receiver's check failed: {}",
            point.error.unwrap_or_default()
        ));
    }
    Ok(format!(
        "TCP, verified over loopback ({:.1} Gbps in 100 ms at 64 KiB); a buffer is rewritten \
         only {} bytes past the peer's ACK; UDP refused",
        point.throughput_gbps,
        point
            .receive_margin_bytes
            .map_or_else(|| "an unrecorded number of".to_string(), |m| m.to_string())
    ))
}

/// One check per path.
pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            "sendfile (memfd pool)",
            probe(StrategyKind::Sendfile),
            "the sendfile strategy is reported unsupported with this reason, never faked",
        ),
        check(
            "vmsplice + splice",
            probe(StrategyKind::Splice),
            "the splice strategy is reported unsupported with this reason, never faked",
        ),
    ]
}
