#!/usr/bin/env bash
# Proves copybench's hardware counters where a PMU exists: runs the counters tests, then a short
# loopback sweep with a given (release) copybench binary, and prints the sender's cycles and LLC
# misses per byte for each strategy and size, or why they were not counted.
#
#   scripts/pmu-check.sh --binary PATH [--sizes 4k,64k] [--duration 500ms] [--no-tests]
#
# Exit status:
#   0  a PMU counted: every point has cycles and LLC misses per byte (printed);
#   1  something failed (the tests, the sweep, or a point with a PMU but no figure);
#   2  bad usage (no binary, unknown option);
#   3  this machine has no hardware PMU (most cloud VMs, this project's CI VM): nothing could be
#      counted; the reason the kernel gave is printed. Not a failure of copybench, but not a
#      result either, so it is not 0: a script that wants figures must not mistake it for one.
#
# Nothing is written to disk: the sweep's JSON is read from stdout (`copybench run --json`).
set -euo pipefail

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

binary="" sizes="4k,64k" duration="500ms" run_tests=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --binary) binary="${2:-}"; shift 2 || usage ;;
        --sizes) sizes="${2:-}"; shift 2 || usage ;;
        --duration) duration="${2:-}"; shift 2 || usage ;;
        --no-tests) run_tests=0; shift ;;
        -h|--help) usage ;;
        *) echo "pmu-check.sh: unknown option '$1'" >&2; usage ;;
    esac
done
if [[ -z "$binary" ]]; then
    echo "pmu-check.sh: give the copybench binary to check with --binary PATH (a release build)" >&2
    exit 2
fi
if [[ ! -x "$binary" ]]; then
    echo "pmu-check.sh: --binary $binary is not an executable file" >&2
    exit 2
fi
command -v jq >/dev/null 2>&1 || { echo "pmu-check.sh: needs jq (apt-get install jq)" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ $run_tests -eq 1 ]]; then
    echo "== counters tests (copybench-perf, and the binary's counters tests)"
    (cd "$repo" && cargo test -q -p copybench-perf && cargo test -q -p copybench-cli --test tests counters::) \
        || { echo "pmu-check.sh: the counters tests failed" >&2; exit 1; }
fi

echo "== sweep: $binary, loopback, every strategy, sizes $sizes, $duration per point"
# A run exits 1 when a point failed; the points that ran are still in the JSON and counted.
run_status=0
json=$("$binary" run --topology loopback --strategy twocopy,scattergather,zerocopy,uringsend,uringzc \
    --sizes "$sizes" --threads 1 --duration "$duration" --warmup 100ms --repetitions 1 \
    --no-progress --json 2>/dev/null) || run_status=$?
if ! jq -e '.points | length > 0' <<<"$json" >/dev/null 2>&1; then
    echo "pmu-check.sh: the sweep produced no point (exit $run_status; run it by hand to see why)" >&2
    exit 1
fi
[[ $run_status -eq 0 ]] || echo "pmu-check.sh: the sweep exited $run_status (a point failed); counting the points it kept"

# Per point: strategy, size, cycles/B, LLC misses/B, and the counters' own word when absent.
# llc_misses_per_kib / 1024 = misses per byte; `sender.counters.*.unsupported` is the reason.
table=$(jq -r '.points[] | [
        .strategy,
        (.msg_size | tostring),
        (if .cycles_per_byte == null then "-" else (.cycles_per_byte * 1000 | round / 1000 | tostring) end),
        (if .llc_misses_per_kib == null then "-" else (.llc_misses_per_kib / 1024 * 1e6 | round / 1e6 | tostring) end),
        (.sender.counters.cycles.unsupported // ""),
        (.sender.counters.llc_misses.unsupported // ""),
        (if .sender.counters == null then "stalled" else "measured" end)
    ] | join("|")' <<<"$json")

printf '%-14s %9s %12s %16s\n' strategy size cycles/B "LLC misses/B"
missing=0 stalled=0 reason=""
# "|" (not a tab: bash folds runs of whitespace separators, losing empty fields).
while IFS='|' read -r strategy size cpb llc why_cycles why_llc sender; do
    if [[ "$sender" == stalled ]]; then
        # Blocked in one send across the whole interval (docs/stalls.md): nothing measured.
        printf '%-14s %9s %12s %16s\n' "$strategy" "$size" "stalled" "stalled"
        stalled=$((stalled + 1))
        continue
    fi
    printf '%-14s %9s %12s %16s\n' "$strategy" "$size" "$cpb" "$llc"
    if [[ "$cpb" == "-" || "$llc" == "-" ]]; then
        missing=$((missing + 1))
        reason="${why_cycles:-$why_llc}"
    fi
done <<<"$table"

[[ $stalled -gt 0 ]] && echo "pmu-check.sh: $stalled point(s) stalled (a sender blocked for the whole interval): no counters, not counted"
if [[ $missing -eq 0 ]]; then
    echo "pmu-check.sh: the PMU counted cycles and LLC misses for every point"
    exit 0
fi
pmu=$(jq -r '.host.counters_available // empty | tostring' <<<"$json" 2>/dev/null || true)
if [[ "$reason" == *PMU* || "$reason" == *"not supported"* || "$reason" == *ENOENT* || "$reason" == *"No such file"* ]]; then
    echo "pmu-check.sh: no hardware PMU here: cycles and LLC misses were not counted (the counters say: $reason)."
    echo "pmu-check.sh: run this on bare metal or a VM with PMU passthrough to get figures."
    [[ -n "$pmu" ]] && echo "pmu-check.sh: host counters: $pmu"
    exit 3
fi
echo "pmu-check.sh: $missing point(s) lack cycles or LLC misses: $reason" >&2
exit 1
