//! The test process as Linux's `/proc` shows it: resident memory, CPU time, threads, the
//! effective user. Each reader gives `None` (or a safe default) where `/proc` is missing.

/// The process's resident memory (`VmRSS` of `/proc/self/status`), in bytes.
pub fn resident_bytes() -> Option<u64> {
    let kib: u64 = status_field("VmRSS:")?.parse().ok()?;
    Some(kib * 1024)
}

/// The process's user plus system CPU time (`/proc/self/stat`), in seconds at 100 ticks
/// a second.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// How many of the process's threads are called `name` (`/proc/self/task/*/comm`).
pub fn threads_named(name: &str) -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let count = tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .count();
    Some(count)
}

/// The effective user id (`Uid:` of `/proc/self/status`); non-root if unreadable.
pub fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))?
                .split_whitespace()
                .nth(2)?
                .parse()
                .ok()
        })
        .unwrap_or(u32::MAX)
}

/// The first value of the line starting with `field` in `/proc/self/status`.
fn status_field(field: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    Some(line.split_whitespace().nth(1)?.to_owned())
}
