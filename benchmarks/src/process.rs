//! What the kernel says about this process: resident memory and CPU time.

/// Resident set size of this process in KiB (`VmRSS`), 0 when unreadable.
pub fn rss_kib() -> u64 {
    cronlock_tests::load::rss_kib(std::process::id())
}

/// CPU time of every thread of this process so far, in nanoseconds.
///
/// Read from `/proc/self/task/*/schedstat` (nanosecond resolution; the
/// clock-tick counters of `/proc/self/stat` are 10 ms, too coarse for an
/// idle process). Threads that exited earlier are not counted, so measure
/// while the runtime's threads are alive.
pub fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Microseconds since the Unix epoch, from the wall clock the schedulers use.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
        })
}
