//! Tests against the real kernel counters of this machine (no mocks).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use perf_event::events::Software;
use perf_event::Builder;

use crate::counters::builder_for;
use crate::testwork::{spin_cpu, thread_cpu_time, touch_fresh_pages};
use crate::*;

fn value(r: &Reading, what: &str) -> u64 {
    match r {
        Reading::Value(v) => *v,
        Reading::Unsupported(why) => panic!("{what} unsupported: {why}"),
    }
}

fn reason<'a>(r: &'a Reading, what: &str) -> &'a str {
    match r {
        Reading::Value(v) => panic!("{what} should be unsupported, read {v}"),
        Reading::Unsupported(why) => {
            assert!(!why.is_empty(), "{what}: empty reason");
            why
        }
    }
}

/// Runs `f` while a sibling thread burns CPU, so that any leak of the sibling's work into the
/// measured thread's counters would show.
fn with_busy_sibling<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    thread::scope(|scope| {
        let sibling = scope.spawn(move || {
            let start = thread_cpu_time();
            while !s.load(Ordering::Relaxed) {
                spin_cpu(Duration::from_millis(1));
            }
            thread_cpu_time() - start
        });
        let out = scope.spawn(f).join().expect("measured thread panicked");
        stop.store(true, Ordering::Relaxed);
        let sibling_cpu = sibling.join().expect("sibling panicked");
        eprintln!("busy sibling used {sibling_cpu:?} of CPU");
        out
    })
}

#[test]
fn software_counters_count_this_threads_known_work_only() {
    let (v, wall, cpu) = with_busy_sibling(|| {
        let mut c = ThreadCounters::open();
        let wall0 = Instant::now();
        let cpu0 = thread_cpu_time();
        c.start();
        spin_cpu(Duration::from_millis(50));
        for _ in 0..5 {
            thread::sleep(Duration::from_millis(1)); // blocks: a context switch each
            thread::yield_now();
        }
        touch_fresh_pages(1024);
        thread::sleep(Duration::from_millis(20)); // wall time the sibling fills with CPU work
        let v = c.stop();
        (v, wall0.elapsed(), thread_cpu_time() - cpu0)
    });
    eprintln!("{v:#?}\nwall {wall:?}, thread CPU {cpu:?}");

    let task = value(&v.task_clock_ns, "task_clock_ns");
    assert!(task > 40_000_000, "task clock {task} ns after 50 ms of CPU");
    // Only this thread's time: never more than its own wall time, and close to what the
    // kernel says this thread used (a leak of the sibling's spinning would double it).
    assert!(
        task <= wall.as_nanos() as u64 + 1_000_000,
        "task clock {task} ns exceeds the thread's wall time {wall:?}"
    );
    let cpu = cpu.as_nanos() as u64;
    assert!(
        task.abs_diff(cpu) <= cpu / 10 + 2_000_000,
        "task clock {task} ns vs thread CPU time {cpu} ns"
    );
    let cs = value(&v.context_switches, "context_switches");
    assert!(cs >= 5, "5 sleeps but {cs} context switches");
    let pf = value(&v.page_faults, "page_faults");
    assert!(pf > 0, "touched 1024 fresh pages but {pf} page faults");
    value(&v.cpu_migrations, "cpu_migrations");
    assert!(v.time_running_ns > 0 && v.time_running_ns <= v.time_enabled_ns);
}

#[test]
fn an_idle_thread_reads_little_while_its_sibling_spins() {
    let v = with_busy_sibling(|| {
        let mut c = ThreadCounters::open_selected(&[EventKind::TaskClock]);
        c.start();
        thread::sleep(Duration::from_millis(50));
        c.stop()
    });
    let task = value(&v.task_clock_ns, "task_clock_ns");
    assert!(task < 10_000_000, "sleeping thread read {task} ns of CPU");
}

#[test]
fn hardware_counters_are_values_with_a_pmu_and_explained_without() {
    let present = pmu_present();
    let mut c = ThreadCounters::open();
    c.start();
    spin_cpu(Duration::from_millis(5));
    let v = c.stop();
    eprintln!("pmu_present() = {present}\n{v:#?}");
    if present {
        assert!(value(&v.cycles, "cycles") > 0);
        assert!(value(&v.instructions, "instructions") > 0);
        match v.llc_event.as_str() {
            LLC_READ_MISSES | CACHE_MISSES => {
                value(&v.llc_misses, "llc_misses");
            }
            LLC_NONE => {
                reason(&v.llc_misses, "llc_misses");
            }
            other => panic!("unknown llc_event {other}"),
        }
    } else {
        for (name, r) in [
            ("cycles", &v.cycles),
            ("instructions", &v.instructions),
            ("llc_misses", &v.llc_misses),
        ] {
            let why = reason(r, name);
            assert!(why.contains("PMU"), "{name}: {why}");
            assert!(why.contains("[E"), "{name}: reason names no errno: {why}");
        }
        assert_eq!(v.llc_event, LLC_NONE);
        // The software group still counts, and its times are the ones reported.
        assert!(value(&v.task_clock_ns, "task_clock_ns") > 0);
        assert!(v.time_running_ns > 0);
    }
}

#[test]
fn an_event_no_machine_has_is_reported_not_zero() {
    // A PMU type number no kernel assigns, in the cycles (hardware leader) slot, and a software
    // event number past the kernel's last, in the page-faults slot.
    let make = |kind: EventKind| -> Builder<'static> {
        let mut b = builder_for(kind);
        match kind {
            EventKind::Cycles => b.attrs_mut().type_ = 0x7fff_0000,
            EventKind::PageFaults => {
                b.event(Software(0xdead));
            }
            _ => {}
        }
        b
    };
    let mut c = ThreadCounters::open_with(&EventKind::ALL, &make);
    c.start();
    spin_cpu(Duration::from_millis(2));
    let v = c.stop();
    eprintln!("{v:#?}");
    let why = reason(&v.cycles, "bogus cycles");
    assert!(why.contains("[E"), "no errno in {why}");
    assert!(why.contains("type 2147418112"), "{why}");
    let why = reason(&v.instructions, "instructions without a leader");
    assert!(why.contains("group leader"), "{why}");
    reason(&v.llc_misses, "llc without a leader");
    assert_eq!(v.llc_event, LLC_NONE);
    let why = reason(&v.page_faults, "bogus page faults");
    assert!(why.contains("no such software event"), "{why}");
    // A member failing leaves the rest of its group counting.
    assert!(value(&v.task_clock_ns, "task_clock_ns") > 0);
    value(&v.context_switches, "context_switches");
}

#[test]
fn only_selected_events_open() {
    let mut c = ThreadCounters::open_selected(&[EventKind::TaskClock, EventKind::CacheMisses]);
    c.start();
    spin_cpu(Duration::from_millis(2));
    let v = c.stop();
    assert!(value(&v.task_clock_ns, "task_clock_ns") > 0);
    for r in [
        &v.cycles,
        &v.instructions,
        &v.page_faults,
        &v.context_switches,
    ] {
        assert_eq!(r, &Reading::Unsupported(NOT_REQUESTED.to_string()));
    }
    if pmu_present() {
        assert_eq!(v.llc_event, CACHE_MISSES);
        value(&v.llc_misses, "cache misses");
    } else {
        assert_eq!(v.llc_event, LLC_NONE);
        assert!(reason(&v.llc_misses, "cache misses").contains("PMU"));
    }
}

#[test]
fn stop_without_start_is_unsupported_not_zero() {
    let v = ThreadCounters::open().stop();
    assert_eq!(
        v.task_clock_ns,
        Reading::Unsupported(NEVER_STARTED.to_string())
    );
    assert_eq!(
        v.page_faults,
        Reading::Unsupported(NEVER_STARTED.to_string())
    );
}

#[test]
fn availability_lists_every_event_with_reasons() {
    let all = availability();
    for a in &all {
        eprintln!("{:18} {:?}", a.event, a.result);
    }
    let names: Vec<&str> = all.iter().map(|a| a.event).collect();
    assert_eq!(
        names,
        [
            "cycles",
            "instructions",
            "llc-read-misses",
            "cache-misses",
            "context-switches",
            "cpu-migrations",
            "page-faults",
            "task-clock"
        ]
    );
    for (kind, a) in EventKind::ALL.iter().zip(&all) {
        assert_eq!(kind.name(), a.event);
        assert_eq!(a.source, kind.source());
        if !kind.is_hardware() {
            // What the results really use: the kernel's accounting, not perf software events.
            assert!(a.source.contains("not a perf event"), "{}", a.source);
            assert_eq!(a.result, Ok(()), "software figure {}", a.event);
        } else {
            assert!(a.source.starts_with("perf event"), "{}", a.source);
        }
    }
    let cycles = &all[0];
    if pmu_present() {
        assert_eq!(cycles.result, Ok(()));
    } else {
        let why = cycles.result.as_ref().unwrap_err().to_string();
        assert!(why.contains("PMU") && why.contains("[E"), "{why}");
    }
}

#[test]
fn counter_values_json_has_the_core_counters_shape() {
    let v = CounterValues::unsupported("counters off");
    let j = serde_json::to_value(&v).unwrap();
    let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "context_switches",
            "cpu_migrations",
            "cycles",
            "instructions",
            "llc_event",
            "llc_misses",
            "page_faults",
            "task_clock_ns",
            "time_enabled_ns",
            "time_running_ns"
        ]
    );
    assert_eq!(
        j["cycles"],
        serde_json::json!({"unsupported": "counters off"})
    );
    assert_eq!(j["llc_event"], "none");
}

fn mean_cost(n: u32, fresh_thread: bool) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        let once = || {
            let mut c = ThreadCounters::open();
            c.start();
            c.stop()
        };
        if fresh_thread {
            thread::spawn(once).join().expect("counter thread panicked");
        } else {
            once();
        }
    }
    t.elapsed() / n
}

#[test]
fn cost_of_open_start_stop() {
    // Per-thread overhead the engine pays around each measured interval (drop included).
    const N: u32 = 50;
    let cold = mean_cost(N, false);
    let cold_thread = mean_cost(N, true);
    let warm = KeepWarm::new();
    assert!(!warm.is_empty());
    let hot = mean_cost(N, false);
    let hot_thread = mean_cost(N, true);
    drop(warm);
    let t = Instant::now();
    for _ in 0..N {
        thread::spawn(|| ()).join().expect("empty thread panicked");
    }
    let spawn_only = t.elapsed() / N;
    eprintln!(
        "open+start+stop+drop: {cold:?} ({cold_thread:?} on a fresh thread each time); \
         with KeepWarm held: {hot:?} ({hot_thread:?} on a fresh thread); \
         thread spawn+join alone {spawn_only:?}"
    );
    assert!(cold < Duration::from_millis(20), "{cold:?}");
    assert!(hot < Duration::from_millis(5), "{hot:?}");
}

#[test]
fn keep_warm_is_send_and_sync() {
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&KeepWarm::new());
}
