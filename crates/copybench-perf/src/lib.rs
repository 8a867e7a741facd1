//! copybench-perf: what a thread costs the CPU. Opens per-thread perf counter groups
//! (perf-event2) and reads system-wide CPU time from `/proc/stat`, reporting every counter as a
//! value or as unsupported with its reason.
