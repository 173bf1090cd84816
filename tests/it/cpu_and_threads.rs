//! The test process's CPU time and threads as Linux's `/proc` shows them; `None` where
//! `/proc` is missing.

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
