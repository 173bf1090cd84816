//! CPU time and memory: this process's (getrusage) and another's (/proc/<pid>).

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch: T0 crosses a process boundary, so it is wall-clock
/// time, which both processes on this machine share.
pub fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage writes the whole struct; zeroed is a valid rusage.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

/// User and system CPU time of every thread of this process.
pub fn process_cpu_nanos() -> u128 {
    let u = rusage();
    let micros = |t: libc::timeval| t.tv_sec as u128 * 1_000_000 + t.tv_usec as u128;
    (micros(u.ru_utime) + micros(u.ru_stime)) * 1000
}

/// This process's peak resident set, KiB.
pub fn peak_rss_kib() -> u64 {
    rusage().ru_maxrss.max(0) as u64
}

/// Another process's CPU time (user and system) from /proc/<pid>/stat, in nanoseconds
/// (its resolution is the clock tick, 10 ms on Linux).
pub fn other_cpu_nanos(pid: u32) -> Option<u128> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields are counted after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u128 =
        fields.get(11)?.parse::<u128>().ok()? + fields.get(12)?.parse::<u128>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u128 } else { 100 };
    Some(ticks * 1_000_000_000 / hz)
}

/// A field of /proc/<pid>/status in KiB: `VmRSS` (now) or `VmHWM` (the peak).
pub fn other_memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}
