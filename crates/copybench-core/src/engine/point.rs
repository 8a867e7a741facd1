use hdrhistogram::Histogram;

use super::pacing::{PacingMethod, REACHED_SHARE};
use super::{Mode, PointParams, Protocol, ReceiverReport, SenderReport, Verify};
use crate::model::{CpuRole, ReceiveKind};
use crate::result::{
    Counters, DemandBasis, LatencyKind, LatencySummary, PacingRecord, Point, ReceiveSetup,
    SideMetrics, SystemCpu, ThreadResult, UdpStats, UringSetup, ZeroCopyStats,
};

fn gbps(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds / 1e9
    } else {
        f64::NAN
    }
}

/// The receivers' own bytes and interval: bytes counted within each receiver's measured
/// interval, over the span from the first receiver's start to the last one's end (as for the
/// senders); receivers elsewhere (remote) report only lengths, and the longest stands in.
fn receiver_side(receivers: &[ReceiverReport]) -> (Option<u64>, Option<f64>) {
    let measured: Vec<&ReceiverReport> = receivers.iter().filter(|r| r.measured_s > 0.0).collect();
    if measured.is_empty() {
        return (None, None);
    }
    let bytes = measured.iter().map(|r| r.measured_bytes).sum();
    let intervals: Option<Vec<_>> = measured.iter().map(|r| r.interval).collect();
    let span = match intervals {
        Some(iv) => {
            let start = iv.iter().map(|i| i.0).min().expect("not empty");
            let end = iv.iter().map(|i| i.1).max().expect("not empty");
            (end - start).as_secs_f64()
        }
        None => measured.iter().map(|r| r.measured_s).fold(0.0, f64::max),
    };
    (Some(bytes), Some(span))
}

/// What the receivers checked: what they all report, `full` for reports of servers that
/// predate `--verify` (they checked everything). Receivers that disagree (which the engine
/// never does) count as the least checking of them.
fn verification(params: &PointParams, receivers: &[ReceiverReport]) -> Verify {
    receivers
        .iter()
        .map(|r| r.verification.unwrap_or(Verify::Full))
        .max()
        .unwrap_or(params.verification())
}

/// The receivers' mapped bytes within their intervals and that share of what they received
/// (`zerocopy` only: `None` for the other strategies, and an error where a zerocopy point's
/// receivers did not all report mapping, e.g. a server that predates `--receive`).
fn mapped(
    params: &PointParams,
    receivers: &[ReceiverReport],
    errors: &mut Vec<String>,
) -> (Option<u64>, Option<f64>) {
    if params.receive_kind() != ReceiveKind::Zerocopy || receivers.is_empty() {
        return (None, None);
    }
    let all: Option<u64> = receivers.iter().map(|r| r.mapped_bytes).sum();
    let Some(mapped) = all else {
        errors.push(
            "--receive zerocopy: a receiver did not report what it mapped (a server that \
             predates --receive reads with read(2)); nothing here was received zero-copy"
                .into(),
        );
        return (None, None);
    };
    let received: u64 = receivers.iter().map(|r| r.measured_bytes).sum();
    (
        Some(mapped),
        (received > 0).then(|| mapped as f64 / received as f64),
    )
}

/// Each CPU's role from where the point's threads ran; none where nothing was pinned.
fn assign_roles(system: &mut SystemCpu, senders: &[SenderReport], receivers: &[ReceiverReport]) {
    let sending: Vec<usize> = senders.iter().filter_map(|s| s.cpu).collect();
    let receiving: Vec<usize> = receivers.iter().filter_map(|r| r.cpu).collect();
    let pinned = !sending.is_empty() || !receiving.is_empty();
    for c in system.per_cpu.iter_mut().flatten() {
        c.role = pinned.then(
            || match (sending.contains(&c.cpu), receiving.contains(&c.cpu)) {
                (true, true) => CpuRole::Both,
                (true, false) => CpuRole::Sender,
                (false, true) => CpuRole::Receiver,
                (false, false) => CpuRole::Other,
            },
        );
    }
}

/// Builds the point record from what every sender and receiver thread reported.
///
/// `verified` is true only if every check the receivers ran (`verification`) passed and each
/// received exactly the bytes its sender sent.
pub fn assemble_point(
    params: &PointParams,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    mut system_cpu: Option<SystemCpu>,
) -> Point {
    let mut errors: Vec<String> = Vec::new();
    if let Some(system) = &mut system_cpu {
        assign_roles(system, senders, receivers);
    }
    let mut per_thread = Vec::with_capacity(senders.len());
    let mut verified = senders.len() == receivers.len() && !senders.is_empty();
    let udp = params.protocol == Protocol::Udp;
    for (i, s) in senders.iter().enumerate() {
        errors.extend(s.error.clone());
        // A sink has no receivers: the sender's figures stand alone, verified by nobody.
        let r = receivers.get(i);
        let ok = r.is_some_and(|r| {
            // A datagram may be lost without anything being wrong: UDP counts loss, not bytes.
            let same_bytes = udp || r.received_bytes == s.total_bytes;
            if !same_bytes && r.mismatch.is_none() {
                errors.push(format!(
                    "connection {}: sent {} bytes but the receiver got {}",
                    s.index, s.total_bytes, r.received_bytes
                ));
            }
            errors.extend(r.mismatch.clone());
            r.clean && same_bytes
        });
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
            received_bytes: r.map(|r| r.received_bytes),
            sender_cpu: s.cpu,
            receiver_cpu: r.and_then(|r| r.cpu),
            sender_counters: s.counters.clone(),
            receiver_counters: r.and_then(|r| r.counters.clone()),
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
    let (mapped_bytes, mapped_ratio) = mapped(params, receivers, &mut errors);
    let (receiver_measured, receiver_duration_s) = receiver_side(receivers);
    // UDP with receivers divides by what was delivered: a lost datagram costs the machine
    // its work and delivers nothing.
    let (demand_basis, demand_bytes) = if udp && !receivers.is_empty() {
        (DemandBasis::Delivered, receiver_bytes)
    } else {
        (DemandBasis::Sent, bytes)
    };
    let service_demand_ns_per_byte = system_cpu
        .as_ref()
        .filter(|_| demand_bytes > 0)
        .map(|s| s.busy_ns() as f64 / demand_bytes as f64);
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

    // Every sender's ring is set up alike: the first one's setup stands for all, with the
    // broken links of all of them.
    let uring = senders
        .iter()
        .find_map(|s| s.uring.clone())
        .map(|first| UringSetup {
            broken_links: senders
                .iter()
                .filter_map(|s| s.uring.as_ref())
                .map(|u| u.broken_links)
                .sum(),
            ..first
        });

    // All senders run the same strategy: worker time is known for all of them or for none.
    let sender_io_worker_ns = senders
        .iter()
        .map(|s| s.io_worker_ns)
        .sum::<Option<u64>>()
        .filter(|_| !senders.is_empty());
    let sender_cpu_ns = |c: &Counters| {
        c.task_clock_ns
            .value()
            .map(|ns| ns + sender_io_worker_ns.unwrap_or(0))
    };

    let udp_stats = udp.then(|| {
        udp_stats(
            senders,
            receivers,
            duration_s,
            verification(params, receivers),
        )
    });
    let throughput_gbps = match &udp_stats {
        // What arrived is what a UDP user gets; the sender's rate is kept beside it.
        Some(u) if !receivers.is_empty() => u.delivered_gbps.unwrap_or(f64::NAN),
        _ => gbps(bytes, duration_s),
    };

    let sender_cpu_total_ns = sender_counters.as_ref().and_then(sender_cpu_ns);
    let receiver_cpu_total_ns = receiver_counters
        .as_ref()
        .and_then(|c| c.task_clock_ns.value());
    Point {
        pacing: pacing(params, senders),
        refined: false,
        not_verifiable: receivers
            .is_empty()
            .then(|| "sink: no receiver, nothing to verify".to_string()),
        protocol: params.protocol,
        udp: udp_stats,
        tool: crate::result::copybench_tool(),
        strategy: params.strategy,
        // What the receivers say they did; a server that predates `--receive` read.
        receive: match receivers.first() {
            Some(r) => r.receive.unwrap_or(ReceiveKind::Read),
            None => params.receive_kind(),
        },
        receive_setup: (params.protocol == Protocol::Tcp && !receivers.is_empty()).then(|| {
            let first = &receivers[0];
            ReceiveSetup {
                mss: first.mss,
                tcp_maxseg: params.tcp_maxseg,
                rcvlowat: first.rcvlowat,
                map_bytes: first.map_bytes,
            }
        }),
        msg_size: params.msg_size,
        threads: params.threads,
        repetition: params.repetition,
        mode: params.mode,
        fields: params.fields.min(params.msg_size),
        pool: params.pool_size(),
        pool_bytes: (params.pool_size() * params.msg_size) as u64,
        read_size: (params.protocol == Protocol::Tcp && params.mode == Mode::Stream)
            .then(|| params.read_size()),
        pool_wait_s: (!senders.is_empty()).then(|| senders.iter().map(|s| s.pool_wait_s).sum()),
        longest_send_s: senders
            .iter()
            .map(|s| s.longest_send.as_secs_f64())
            .reduce(f64::max),
        data: Some(params.data),
        buffers_touched: buffers_touched(senders),
        working_set_bytes: buffers_touched(senders).map(|n| n * params.msg_size as u64),
        pages_per_message: (!senders.is_empty()).then(|| {
            senders.iter().map(|s| s.pages_per_message).sum::<f64>() / senders.len() as f64
        }),
        fixed_buffers: params.fixed_buffers,
        uring_depth: params
            .strategy
            .uses_io_uring()
            .then(|| params.uring_depth()),
        uring,
        splice_gift: (params.strategy == crate::StrategyKind::Splice).then_some(params.splice_gift),
        receive_margin_bytes: senders.iter().find_map(|s| s.receive_margin),
        hugepages: hugepages(senders),
        udp_gso: params.udp_gso.filter(|_| udp),
        throughput_gbps,
        bytes,
        messages,
        duration_s,
        send_calls: senders.iter().map(|s| s.send_calls).sum(),
        verified: verified && errors.is_empty(),
        verification: verification(params, receivers),
        placement: None,
        transactions_per_s: (params.mode == Mode::Rr && duration_s > 0.0)
            .then(|| messages as f64 / duration_s),
        latency_us,
        zerocopy,
        sender_io_worker_ns,
        cycles_per_byte: per_byte(&sender_counters, |c| c.cycles.value(), bytes),
        llc_misses_per_kib: per_byte(&sender_counters, |c| c.llc_misses.value(), bytes)
            .map(|per_byte| per_byte * 1024.0),
        sender: SideMetrics {
            bytes: Some(bytes),
            duration_s: Some(duration_s),
            throughput_gbps: Some(gbps(bytes, duration_s)).filter(|g| g.is_finite()),
            cpu_ns_per_byte: sender_counters
                .as_ref()
                .and_then(sender_cpu_ns)
                .filter(|_| bytes > 0)
                .map(|ns| ns as f64 / bytes as f64),
            cpu_utilisation_pct: utilisation_pct(sender_cpu_total_ns, Some(duration_s)),
            counters: sender_counters,
            ..SideMetrics::default()
        },
        receiver: SideMetrics {
            bytes: receiver_measured,
            duration_s: receiver_duration_s,
            throughput_gbps: receiver_measured
                .zip(receiver_duration_s)
                .map(|(b, s)| gbps(b, s))
                .filter(|g| g.is_finite()),
            cpu_ns_per_byte: per_byte(
                &receiver_counters,
                |c| c.task_clock_ns.value(),
                receiver_bytes,
            ),
            cpu_utilisation_pct: utilisation_pct(receiver_cpu_total_ns, receiver_duration_s),
            counters: receiver_counters,
            mapped_bytes,
            mapped_ratio,
        },
        system_cpu,
        receiver_system_cpu: None,
        service_demand_ns_per_byte,
        service_demand_per: Some(demand_basis),
        per_thread,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
        peer: None,
    }
}

/// What the senders' huge-page pools got, summed (`None` without `--hugepages`).
fn hugepages(senders: &[SenderReport]) -> Option<crate::result::HugePages> {
    let mut pools = senders.iter().filter_map(|s| s.hugepages.as_ref());
    let first = pools.next()?.clone();
    Some(pools.fold(first, |mut sum, p| {
        sum.mapped_bytes += p.mapped_bytes;
        sum.huge_bytes = sum.huge_bytes.zip(p.huge_bytes).map(|(a, b)| a + b);
        sum
    }))
}

/// Thread CPU time `ns` over `interval_s`, in percent of one CPU.
fn utilisation_pct(ns: Option<u64>, interval_s: Option<f64>) -> Option<f64> {
    let (ns, s) = (ns?, interval_s.filter(|s| *s > 0.0)?);
    let pct = ns as f64 / (s * 1e9) * 100.0;
    pct.is_finite().then_some(pct)
}

/// A paced point's pacing: the target, the slowest connection's rate over its own interval,
/// and whether every connection reached [`REACHED_SHARE`] of the target.
fn pacing(params: &PointParams, senders: &[SenderReport]) -> Option<PacingRecord> {
    let target = params.rate_bps?;
    let reached = senders
        .iter()
        .filter_map(|s| {
            let d = s.duration()?.as_secs_f64();
            (d > 0.0).then(|| s.bytes as f64 * 8.0 / d)
        })
        .reduce(f64::min);
    Some(PacingRecord {
        method: PacingMethod::UserSleep,
        target_bps: target,
        reached_bps: reached,
        rate_reached: reached.is_some_and(|r| r >= REACHED_SHARE * target as f64),
        slept_s: senders
            .iter()
            .map(|s| s.paced_sleep)
            .sum::<Option<std::time::Duration>>()
            .filter(|_| !senders.is_empty())
            .map(|d| d.as_secs_f64()),
    })
}

/// Distinct pool buffers sent from in the measured interval, over every sender that reached
/// it.
fn buffers_touched(senders: &[SenderReport]) -> Option<u64> {
    let measured = senders.iter().filter(|s| s.interval.is_some());
    let mut any = false;
    let sum = measured
        .map(|s| {
            any = true;
            s.buffers_touched as u64
        })
        .sum();
    any.then_some(sum)
}

/// Datagrams sent, received, lost and reordered, and the delivered rate (UDP points). Both
/// rates span what TCP's do: from the first thread's start to the last one's end
/// (`sender_span` for the senders, [`receiver_side`] for the receivers). Reordering is known
/// only where the receivers read the stamps (`verification` full or stamps).
fn udp_stats(
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    sender_span: f64,
    verification: Verify,
) -> UdpStats {
    // Datagrams: with --udp-gso each message leaves as several.
    let per_message = senders
        .first()
        .map_or(1, |s| s.datagrams_per_message as u64);
    let sent: u64 = senders.iter().map(|s| s.total_messages).sum::<u64>() * per_message;
    let counts = receivers.iter().filter_map(|r| r.datagrams.as_ref());
    let (received, reordered) = counts.fold((0, 0), |(n, o), c| (n + c.received, o + c.reordered));
    let (measured, span) = receiver_side(receivers);
    let sent_bytes: u64 = senders.iter().map(|s| s.bytes).sum();
    let stamps_read = matches!(verification, Verify::Full | Verify::Stamps);
    UdpStats {
        sent,
        received: (!receivers.is_empty()).then_some(received),
        lost: (!receivers.is_empty()).then(|| sent.saturating_sub(received)),
        reordered: (!receivers.is_empty() && stamps_read).then_some(reordered),
        loss_ratio: (!receivers.is_empty() && sent > 0)
            .then(|| sent.saturating_sub(received) as f64 / sent as f64),
        delivered_gbps: measured
            .zip(span)
            .filter(|&(_, s)| s > 0.0)
            .map(|(b, s)| gbps(b, s)),
        sent_gbps: gbps(sent_bytes, sender_span),
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
            Mode::Rr => LatencyKind::RoundTrip,
            Mode::Stream => LatencyKind::MessageSend,
        },
    }
}
