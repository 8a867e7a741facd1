use hdrhistogram::Histogram;

use super::{Mode, PointParams, ReceiverReport, SenderReport};
use crate::result::{
    Counters, LatencySummary, Point, SideMetrics, SystemCpu, ThreadResult, ZeroCopyStats,
};

fn gbps(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds / 1e9
    } else {
        f64::NAN
    }
}

/// Builds the point record from what every sender and receiver thread reported.
///
/// `verified` is true only if every receiver checked every byte, all matched, and each
/// received exactly the bytes its sender sent.
pub fn assemble_point(
    params: &PointParams,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    system_cpu: Option<SystemCpu>,
) -> Point {
    let mut errors: Vec<String> = Vec::new();
    let mut per_thread = Vec::with_capacity(senders.len());
    let mut verified = senders.len() == receivers.len() && !senders.is_empty();
    for (s, r) in senders.iter().zip(receivers) {
        let same_bytes = r.received_bytes == s.total_bytes;
        if !same_bytes && r.mismatch.is_none() {
            errors.push(format!(
                "connection {}: sent {} bytes but the receiver got {}",
                s.index, s.total_bytes, r.received_bytes
            ));
        }
        errors.extend(r.mismatch.clone());
        errors.extend(s.error.clone());
        let ok = r.clean && same_bytes;
        verified &= ok;
        let duration_s = s.duration().map_or(0.0, |d| d.as_secs_f64());
        per_thread.push(ThreadResult {
            thread: s.index,
            bytes: s.bytes,
            messages: s.messages,
            send_calls: s.send_calls,
            duration_s,
            throughput_gbps: gbps(s.bytes, duration_s),
            verified: ok,
            received_bytes: r.received_bytes,
            sender_cpu: s.cpu,
            receiver_cpu: r.cpu,
            sender_counters: s.counters.clone(),
            receiver_counters: r.counters.clone(),
        });
    }

    let starts = senders.iter().filter_map(|s| s.interval.map(|i| i.0));
    let ends = senders.iter().filter_map(|s| s.interval.map(|i| i.1));
    let duration_s = match (starts.min(), ends.max()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => {
            errors.push("no sender reached the measured interval".into());
            0.0
        }
    };
    let bytes: u64 = senders.iter().map(|s| s.bytes).sum();
    let messages: u64 = senders.iter().map(|s| s.messages).sum();

    let sender_counters = Counters::sum(senders.iter().filter_map(|s| s.counters.as_ref()));
    let receiver_counters = Counters::sum(receivers.iter().filter_map(|r| r.counters.as_ref()));
    let receiver_bytes: u64 = receivers.iter().map(|r| r.measured_bytes).sum();
    let per_byte = |c: &Option<Counters>, pick: fn(&Counters) -> Option<u64>, bytes: u64| {
        c.as_ref()
            .and_then(pick)
            .filter(|_| bytes > 0)
            .map(|v| v as f64 / bytes as f64)
    };

    let mut latency = Histogram::<u64>::new(3).expect("valid precision");
    for s in senders {
        // Both are auto-resizing histograms of the same precision: adding cannot fail.
        let _ = latency.add(&s.latency_ns);
    }
    let latency_us = (!latency.is_empty()).then(|| summarize(&latency, params.mode));

    let zerocopy = senders
        .iter()
        .filter_map(|s| s.zerocopy.as_ref())
        .fold(None::<ZeroCopyStats>, |acc, z| {
            let mut sum = acc.unwrap_or_default();
            sum.sends += z.sends;
            sum.completions += z.completions;
            sum.copied += z.copied;
            sum.enobufs += z.enobufs;
            sum.notifications += z.notifications;
            Some(sum)
        })
        .map(|mut z| {
            z.copied_ratio = (z.completions > 0).then(|| z.copied as f64 / z.completions as f64);
            if z.completions != z.sends {
                errors.push(format!(
                    "{} zero-copy sends but {} completions",
                    z.sends, z.completions
                ));
            }
            z
        });

    Point {
        tool: crate::result::copybench_tool(),
        strategy: params.strategy,
        msg_size: params.msg_size,
        threads: params.threads,
        repetition: params.repetition,
        mode: params.mode.name().into(),
        fields: params.fields.min(params.msg_size),
        pool: params.pool_size(),
        throughput_gbps: gbps(bytes, duration_s),
        bytes,
        messages,
        duration_s,
        send_calls: senders.iter().map(|s| s.send_calls).sum(),
        verified: verified && errors.is_empty(),
        transactions_per_s: (params.mode == Mode::Rr && duration_s > 0.0)
            .then(|| messages as f64 / duration_s),
        latency_us,
        zerocopy,
        cycles_per_byte: per_byte(&sender_counters, |c| c.cycles.value(), bytes),
        llc_misses_per_kib: per_byte(&sender_counters, |c| c.llc_misses.value(), bytes)
            .map(|per_byte| per_byte * 1024.0),
        sender: SideMetrics {
            cpu_ns_per_byte: per_byte(&sender_counters, |c| c.task_clock_ns.value(), bytes),
            counters: sender_counters,
        },
        receiver: SideMetrics {
            cpu_ns_per_byte: per_byte(
                &receiver_counters,
                |c| c.task_clock_ns.value(),
                receiver_bytes,
            ),
            counters: receiver_counters,
        },
        system_cpu,
        per_thread,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
        peer: None,
    }
}

fn summarize(h: &Histogram<u64>, mode: Mode) -> LatencySummary {
    let us = |ns: u64| ns as f64 / 1000.0;
    LatencySummary {
        p50: us(h.value_at_quantile(0.50)),
        p90: us(h.value_at_quantile(0.90)),
        p99: us(h.value_at_quantile(0.99)),
        p999: us(h.value_at_quantile(0.999)),
        max: us(h.max()),
        mean: h.mean() / 1000.0,
        samples: h.len(),
        what: match mode {
            Mode::Rr => "round_trip".into(),
            Mode::Stream => "send_call".into(),
        },
    }
}
