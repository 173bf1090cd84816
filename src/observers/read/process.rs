//! The current process: CPU time, faults and context switches from `getrusage`; memory,
//! threads and start time from `/proc/self/stat`; disk bytes from `/proc/self/io`;
//! descriptors from `/proc/self/fd`.
//!
//! One read costs one `getrusage`, two small `/proc` files and one `stat` (on Linux 6.2
//! and later the size of `/proc/self/fd` is the number of open descriptors; older kernels
//! list the directory instead, which grows with the descriptors).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::unix::{self, Usage};
use super::{malformed, value_of, ProcFile, Warnings};
use crate::observers::cached::Read;

/// The shortest utilization window: CPU time is counted in microseconds, but the
/// kernel updates it at scheduler ticks (1 to 10 ms).
const MIN_WINDOW: Duration = Duration::from_millis(10);

/// One read of the process. `None`: not readable (left out of the collection).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ProcessSample {
    /// CPU seconds: user, system.
    pub(crate) cpu_time: [Option<f64>; 2],
    /// CPU time since the previous read over its wall time and the CPUs available to
    /// the process: user, system.
    pub(crate) cpu_utilization: [Option<f64>; 2],
    /// Resident memory, bytes.
    pub(crate) memory_usage: Option<i64>,
    /// Virtual memory, bytes.
    pub(crate) memory_virtual: Option<i64>,
    /// Threads of the process.
    pub(crate) threads: Option<i64>,
    /// Open file descriptors.
    pub(crate) file_descriptors: Option<i64>,
    /// Bytes the process caused to be read from and written to storage: read, write.
    pub(crate) disk_io: [Option<u64>; 2],
    /// Context switches: voluntary, involuntary.
    pub(crate) context_switches: [Option<u64>; 2],
    /// Page faults: major, minor.
    pub(crate) paging_faults: [Option<u64>; 2],
    /// Seconds since the process started.
    pub(crate) uptime: Option<f64>,
}

/// What `/proc/self/stat` gives.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    threads: u64,
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

/// Reads the current process.
pub(crate) struct ProcessReader {
    stat: ProcFile,
    io: ProcFile,
    fd_dir: PathBuf,
    page_size: Option<u64>,
    cpus: f64,
    /// When the process started, on the monotonic clock.
    started: Option<Instant>,
    /// The start of the utilization window: its time and CPU seconds (user, system).
    window_start: Option<(Instant, [f64; 2])>,
    warnings: Warnings,
}

impl ProcessReader {
    /// A reader of `<proc_root>/self/…` (`/proc` outside tests), for a process that may
    /// run on `cpus` CPUs.
    pub(crate) fn new(proc_root: &Path, cpus: usize) -> Self {
        let mut reader = ProcessReader {
            stat: ProcFile::new(proc_root, "self/stat"),
            io: ProcFile::new(proc_root, "self/io"),
            fd_dir: proc_root.join("self/fd"),
            page_size: unix::page_size(),
            cpus: cpus.max(1) as f64,
            started: None,
            window_start: None,
            warnings: Warnings::default(),
        };
        reader.started = reader.start_instant(&mut ProcFile::new(proc_root, "uptime"));
        reader
    }

    /// The process's start on the monotonic clock: the host's uptime now less the
    /// process's start time since boot. Found once; the uptime then follows `Instant`.
    fn start_instant(&mut self, host_uptime: &mut ProcFile) -> Option<Instant> {
        let ticks = unix::clock_ticks()?;
        let stat = self.stat.read().and_then(parse_stat);
        let stat = self
            .warnings
            .keep(stat, "/proc/self/stat", "process.uptime")?;
        let uptime = host_uptime.read().and_then(|text| {
            let seconds = text.split_whitespace().next().and_then(|s| s.parse().ok());
            seconds.ok_or_else(|| malformed("uptime"))
        });
        let uptime: f64 = self
            .warnings
            .keep(uptime, "/proc/uptime", "process.uptime")?;
        let age = (uptime - stat.start_ticks as f64 / ticks).max(0.0);
        Instant::now().checked_sub(Duration::try_from_secs_f64(age).ok()?)
    }

    /// CPU seconds over the window since the previous read, which starts a new window;
    /// `last` (the previous window's) when that read is less than [`MIN_WINDOW`] ago, so
    /// reads in quick succession do not measure noise.
    fn utilization(
        &mut self,
        now: Instant,
        cpu: [f64; 2],
        last: [Option<f64>; 2],
    ) -> [Option<f64>; 2] {
        let Some((then, before)) = self.window_start else {
            self.window_start = Some((now, cpu));
            return [None; 2];
        };
        let window = now.saturating_duration_since(then);
        if window < MIN_WINDOW {
            return last;
        }
        self.window_start = Some((now, cpu));
        [0, 1].map(|i| utilization(cpu[i] - before[i], window.as_secs_f64(), self.cpus))
    }
}

impl Read for ProcessReader {
    type Sample = ProcessSample;

    fn read(&mut self, sample: &mut ProcessSample) {
        let now = Instant::now();
        const CPU: &str = "process.cpu.*, process.context_switches, process.paging.faults";
        let usage: Option<Usage> = self.warnings.keep(unix::usage(), "getrusage", CPU);
        let cpu = usage.map(|u| [u.user, u.system]);
        sample.cpu_time = [cpu.map(|c| c[0]), cpu.map(|c| c[1])];
        sample.cpu_utilization = match cpu {
            Some(cpu) => self.utilization(now, cpu, sample.cpu_utilization),
            None => [None; 2],
        };
        sample.context_switches = [
            usage.map(|u| u.voluntary_switches),
            usage.map(|u| u.involuntary_switches),
        ];
        sample.paging_faults = [usage.map(|u| u.major_faults), usage.map(|u| u.minor_faults)];

        const STAT: &str = "process.memory.*, process.thread.count";
        let stat = self.stat.read().and_then(parse_stat);
        let stat = self.warnings.keep(stat, "/proc/self/stat", STAT);
        let page_size = self.page_size;
        sample.memory_usage = stat.and_then(|s| gauge(s.resident_pages.checked_mul(page_size?)));
        sample.memory_virtual = stat.and_then(|s| gauge(Some(s.virtual_bytes)));
        sample.threads = stat.and_then(|s| gauge(Some(s.threads)));

        let io = self.io.read().and_then(parse_io);
        let io = self.warnings.keep(io, "/proc/self/io", "process.disk.io");
        sample.disk_io = [io.map(|io| io[0]), io.map(|io| io[1])];

        let fds = fd_count(&self.fd_dir);
        let fds = self
            .warnings
            .keep(fds, "/proc/self/fd", "process.unix.file_descriptor.count");
        sample.file_descriptors = fds.and_then(|n| gauge(Some(n)));

        sample.uptime = self.started.map(|at| at.elapsed().as_secs_f64());
    }
}

/// `delta` CPU seconds over `window` wall seconds on `cpus` CPUs, when the window is not
/// empty (a counter that went back, which the kernel's scaling can do by a tick, is 0).
fn utilization(delta: f64, window: f64, cpus: f64) -> Option<f64> {
    (window > 0.0).then(|| delta.max(0.0) / window / cpus)
}

/// An up-down counter's value, unless it does not fit.
fn gauge(value: Option<u64>) -> Option<i64> {
    value.and_then(|v| i64::try_from(v).ok())
}

/// The fields of `/proc/self/stat` the observers use. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted from
/// the last `)`.
fn parse_stat(text: &str) -> io::Result<Stat> {
    let after_name = text.rfind(')').map(|i| &text[i + 1..]);
    let mut fields = after_name
        .ok_or_else(|| malformed("command name"))?
        .split_whitespace();
    // Field n of proc(5) is item n - 3 after the name.
    let mut field = |skip: usize| -> io::Result<u64> {
        let value = fields.nth(skip).and_then(|f| f.parse().ok());
        value.ok_or_else(|| malformed("thread count, start time, vsize and rss"))
    };
    let threads = field(17)?; // num_threads (20)
    let start_ticks = field(1)?; // starttime (22)
    let virtual_bytes = field(0)?; // vsize (23)
    let resident_pages = field(0)?; // rss (24)
    Ok(Stat {
        threads,
        start_ticks,
        virtual_bytes,
        resident_pages,
    })
}

/// Storage bytes read and written (`read_bytes`, `write_bytes` of `/proc/self/io`).
fn parse_io(text: &str) -> io::Result<[u64; 2]> {
    match (value_of(text, "read_bytes"), value_of(text, "write_bytes")) {
        (Some(read), Some(write)) => Ok([read, write]),
        _ => Err(malformed("read_bytes and write_bytes")),
    }
}

/// Open descriptors: the size of `/proc/self/fd` (Linux 6.2 and later), else its
/// entries less the one listing them.
fn fd_count(dir: &Path) -> io::Result<u64> {
    let size = std::fs::metadata(dir)?.len();
    if size > 0 {
        return Ok(size);
    }
    let entries = std::fs::read_dir(dir)?.count() as u64;
    Ok(entries.saturating_sub(1))
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
