//! What libc tells about the process: its resource usage (`getrusage`) and the units of
//! `/proc` (`sysconf`). Other platforms get `Unsupported`.
//!
//! `getrusage(RUSAGE_SELF)` covers every thread of the process, ended ones included, and
//! gives CPU time in microseconds: finer than `/proc/self/stat`'s clock ticks (10 ms),
//! which matters for utilization over one-second windows.

use std::io;

/// The process's resource usage so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Usage {
    /// CPU time in user mode, seconds.
    pub user: f64,
    /// CPU time in kernel mode, seconds.
    pub system: f64,
    /// Page faults served without I/O.
    pub minor_faults: u64,
    /// Page faults that needed I/O.
    pub major_faults: u64,
    /// Context switches the process asked for (waiting for I/O, a lock, a sleep).
    pub voluntary_switches: u64,
    /// Context switches forced on it (time slice over, a higher-priority task).
    pub involuntary_switches: u64,
}

/// The resource usage of this process, all threads together.
#[cfg(unix)]
pub(crate) fn usage() -> io::Result<Usage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `struct rusage` to the pointer, which points to
    // memory of that type and size that we own; RUSAGE_SELF needs nothing else.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed is a valid `rusage` (integers only), and getrusage succeeded.
    let usage = unsafe { usage.assume_init() };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let count = |n: libc::c_long| u64::try_from(n).unwrap_or(0);
    Ok(Usage {
        user: seconds(usage.ru_utime),
        system: seconds(usage.ru_stime),
        minor_faults: count(usage.ru_minflt),
        major_faults: count(usage.ru_majflt),
        voluntary_switches: count(usage.ru_nvcsw),
        involuntary_switches: count(usage.ru_nivcsw),
    })
}

/// The resource usage of this process: not available on this platform.
#[cfg(not(unix))]
pub(crate) fn usage() -> io::Result<Usage> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The page size in bytes (`/proc/self/stat` counts resident memory in pages).
pub(crate) fn page_size() -> Option<u64> {
    #[cfg(unix)]
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    #[cfg(not(unix))]
    let size = -1;
    u64::try_from(size).ok().filter(|&s| s > 0)
}

/// Clock ticks per second (`USER_HZ`), the unit of `/proc/stat` and of a process's start
/// time.
pub(crate) fn clock_ticks() -> Option<f64> {
    #[cfg(unix)]
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    #[cfg(not(unix))]
    let ticks = -1;
    u64::try_from(ticks)
        .ok()
        .filter(|&t| t > 0)
        .map(|t| t as f64)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn usage_grows_with_work_and_the_units_are_known() {
        let before = usage().expect("getrusage");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut x = 0u64;
        while usage().expect("getrusage").user <= before.user {
            assert!(std::time::Instant::now() < deadline, "no CPU time counted");
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(page_size().is_some_and(|p| p >= 4096));
        assert!(clock_ticks().is_some_and(|t| t >= 1.0));
    }
}
