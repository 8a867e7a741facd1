//! Data temperature (`--data`) over real loopback sockets: hot data sends each strategy from
//! the fewest buffers its semantics allow, cold data cycles every strategy through the whole
//! pool, and each point says how many buffers it touched.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{
    run_point, DataTemperature, Endpoints, NoHooks, PointParams, Protocol, COLD_POOL_LLC_FACTOR,
};
use copybench_core::result::Point;
use copybench_core::StrategyKind;

fn quick(
    strategy: StrategyKind,
    msg_size: usize,
    threads: usize,
    data: DataTemperature,
) -> PointParams {
    let mut p = PointParams::new(strategy, msg_size, threads);
    p.warmup = Duration::from_millis(50);
    p.duration = Duration::from_millis(400);
    p.data = data;
    p
}

fn run(p: &PointParams) -> Point {
    let point = run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{} {} B x{}: {e}", p.strategy, p.msg_size, p.threads));
    assert!(
        point.verified,
        "{} {}: {:?}",
        p.strategy, p.msg_size, point.error
    );
    assert_eq!(point.data, Some(p.data));
    point
}

#[test]
fn hot_data_sends_a_copying_strategy_from_one_buffer_per_connection() {
    for strategy in [StrategyKind::TwoCopy, StrategyKind::ScatterGather] {
        let point = run(&quick(strategy, 16 << 10, 2, DataTemperature::Hot));
        assert!(
            point.pool > 2,
            "the pool is the upper bound, not the working set"
        );
        assert_eq!(
            point.buffers_touched,
            Some(2),
            "{strategy}: one per connection"
        );
        assert_eq!(point.working_set_bytes, Some(2 * (16 << 10)));
    }
}

#[test]
fn hot_zero_copy_sends_from_what_is_in_flight_not_from_the_pool() {
    // UDP over loopback: the kernel copies each datagram as it loops it back and completes
    // the send at once, so only the buffers between two reaps are in flight.
    let mut p = quick(StrategyKind::ZeroCopy, 16 << 10, 1, DataTemperature::Hot);
    p.protocol = Protocol::Udp;
    let point = run(&p);
    let touched = point.buffers_touched.expect("measured");
    assert!(point.pool >= 512, "default pool of 8 MiB: {}", point.pool);
    assert!(
        (1..=32).contains(&touched),
        "{touched} of {} buffers touched: zero-copy's working set should be what is in flight",
        point.pool
    );
}

#[test]
fn cold_data_cycles_every_strategy_through_the_whole_pool() {
    for strategy in [
        StrategyKind::TwoCopy,
        StrategyKind::ScatterGather,
        StrategyKind::ZeroCopy,
    ] {
        let mut p = quick(strategy, 4096, 1, DataTemperature::Cold);
        p.pool = Some(64);
        let point = run(&p);
        assert!(
            point.messages > 64,
            "{strategy}: {} messages",
            point.messages
        );
        assert_eq!(point.buffers_touched, Some(64), "{strategy}");
        assert_eq!(point.working_set_bytes, Some(64 * 4096));
    }
}

#[test]
fn the_cold_pool_is_larger_than_the_last_level_cache() {
    let llc = copybench_core::message::last_level_cache()
        .unwrap_or(copybench_core::engine::ASSUMED_LLC_BYTES);
    for size in [4096, 16 << 10, 64 << 10] {
        let cold = quick(StrategyKind::ScatterGather, size, 1, DataTemperature::Cold);
        let hot = quick(StrategyKind::ScatterGather, size, 1, DataTemperature::Hot);
        let bytes = cold.pool_size() * size;
        assert!(
            bytes >= COLD_POOL_LLC_FACTOR * llc,
            "{size}: cold pool of {bytes} B, last-level cache {llc} B"
        );
        assert!(cold.pool_size() >= hot.pool_size());
        cold.validate().unwrap();
    }
}

#[test]
fn on_cold_data_every_strategy_runs_from_the_same_pool() {
    // Hot: sendfile and splice need a pool several times the others' (their release rule);
    // cold: one pool for all, at least as large as theirs, so one temperature.
    for size in [1024, 4096, 64 << 10, 1 << 20] {
        let cold_pool = |s| quick(s, size, 2, DataTemperature::Cold).pool_size();
        let by_reference = quick(StrategyKind::Sendfile, size, 2, DataTemperature::Hot).pool_size();
        let copying = quick(StrategyKind::ScatterGather, size, 2, DataTemperature::Hot).pool_size();
        assert!(
            by_reference > copying,
            "{size}: {by_reference} vs {copying}"
        );
        let pools: Vec<usize> = StrategyKind::ALL.iter().map(|&s| cold_pool(s)).collect();
        assert!(
            pools.iter().all(|&p| p == pools[0]),
            "{size}: cold pools {pools:?}"
        );
        assert!(
            pools[0] >= by_reference,
            "{size}: {} < {by_reference}",
            pools[0]
        );
    }
}
