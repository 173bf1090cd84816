//! The host: CPU time per mode from `/proc/stat` (in total or per logical CPU), memory
//! by state from `/proc/meminfo`, and the utilizations over the time since the previous
//! read.
//!
//! CPU modes, as the conventions name them, from the columns of `/proc/stat`: `user`,
//! `nice`, `system`, `idle`, `iowait`, `interrupt` (irq + softirq), `steal`. The guest
//! columns are left out: the kernel counts them in `user` and `nice` already. A
//! utilization is a mode's ticks over the window divided by all modes' ticks over it,
//! which is the window's wall time times the CPUs counted.

use std::io;
use std::path::Path;

use super::unix;
use super::{malformed, value_of, ProcFile, Warnings};
use crate::observers::cached::Read;

/// The `cpu.mode` values, in the order of every per-mode array here.
pub(crate) const CPU_MODES: [&str; 7] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "interrupt",
    "steal",
];

/// The `system.memory.state` values, in the order of every per-state array here.
pub(crate) const MEMORY_STATES: [&str; 4] = ["used", "free", "buffers", "cached"];

/// One CPU's (or all CPUs') time per mode.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CpuTimes {
    /// The logical CPU's number (`cpuN`); `None` for all CPUs together.
    pub(crate) number: Option<i64>,
    /// Seconds per mode.
    pub(crate) seconds: [Option<f64>; 7],
    /// Share of the last window per mode; `None` until a window has passed.
    pub(crate) utilization: [Option<f64>; 7],
    /// Ticks per mode at the start of the current window.
    window_start: Option<[u64; 7]>,
}

impl CpuTimes {
    /// Takes the CPU's `ticks` now. A read with no tick since the window's start keeps
    /// the last window's shares, so reads in quick succession do not measure noise.
    fn update(&mut self, ticks: [u64; 7], tick: f64) {
        self.seconds = ticks.map(|t| Some(t as f64 * tick));
        let Some(start) = self.window_start.replace(ticks) else {
            return;
        };
        let delta = std::array::from_fn::<u64, 7, _>(|i| ticks[i].saturating_sub(start[i]));
        let window: u64 = delta.iter().sum();
        if window == 0 {
            self.window_start = Some(start);
            return;
        }
        self.utilization = delta.map(|d| Some(d as f64 / window as f64));
    }
}

/// One read of the host. `None`: not readable (left out of the collection).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SystemSample {
    /// All CPUs together.
    pub(crate) cpu: CpuTimes,
    /// Each logical CPU, when asked for.
    pub(crate) per_cpu: Vec<CpuTimes>,
    /// Online logical CPUs.
    pub(crate) logical_count: Option<i64>,
    /// Bytes per memory state.
    pub(crate) memory_usage: [Option<i64>; 4],
    /// Share of the total memory per state.
    pub(crate) memory_utilization: [Option<f64>; 4],
}

/// Reads the host.
pub(crate) struct SystemReader {
    stat: ProcFile,
    meminfo: ProcFile,
    per_cpu: bool,
    /// Seconds per clock tick (`1 / USER_HZ`).
    tick: Option<f64>,
    warnings: Warnings,
}

impl SystemReader {
    /// A reader of `<proc_root>/stat` and `<proc_root>/meminfo` (`/proc` outside tests);
    /// with `per_cpu`, each logical CPU's times too.
    pub(crate) fn new(proc_root: &Path, per_cpu: bool) -> Self {
        SystemReader {
            stat: ProcFile::new(proc_root, "stat"),
            meminfo: ProcFile::new(proc_root, "meminfo"),
            per_cpu,
            tick: unix::clock_ticks().map(|hz| 1.0 / hz),
            warnings: Warnings::default(),
        }
    }

    /// Updates the CPUs of `sample`, which is the previous read's: its windows go on.
    fn read_cpus(&mut self, sample: &mut SystemSample) -> io::Result<()> {
        let tick = self.tick.ok_or_else(|| malformed("known clock tick"))?;
        let mut total = false;
        let mut count = 0;
        // The cpu lines come first; the rest of the file is not needed.
        for line in self.stat.read()?.lines() {
            let Some(rest) = line.strip_prefix("cpu") else {
                break;
            };
            let (number, ticks) = parse_cpu_line(rest)?;
            let Some(number) = number else {
                sample.cpu.update(ticks, tick);
                total = true;
                continue;
            };
            if self.per_cpu {
                // A CPU that went offline or came back starts its window anew.
                if sample.per_cpu.get(count).map(|c| c.number) != Some(Some(number)) {
                    sample.per_cpu.truncate(count);
                    let number = Some(number);
                    sample.per_cpu.push(CpuTimes {
                        number,
                        ..CpuTimes::default()
                    });
                }
                sample.per_cpu[count].update(ticks, tick);
            }
            count += 1;
        }
        sample.per_cpu.truncate(count);
        if !total {
            return Err(malformed("cpu line"));
        }
        sample.logical_count = Some(count as i64);
        Ok(())
    }

    fn read_memory(&mut self, sample: &mut SystemSample) -> io::Result<()> {
        let text = self.meminfo.read()?;
        let kib = |key| value_of(text, key).and_then(|v| v.checked_mul(1024));
        let total = kib("MemTotal").ok_or_else(|| malformed("MemTotal"))?;
        let [free, buffers, cached] = ["MemFree", "Buffers", "Cached"].map(kib);
        // The conventions' `used` on Linux: MemTotal - MemAvailable; before Linux 3.14
        // (no MemAvailable), the older total - free - buffers - cached.
        let available = kib("MemAvailable")
            .or_else(|| Some(free? + buffers? + cached?))
            .ok_or_else(|| malformed("MemAvailable, or MemFree, Buffers and Cached"))?;
        let states = [Some(total.saturating_sub(available)), free, buffers, cached];
        sample.memory_usage = states.map(|b| b.and_then(|b| i64::try_from(b).ok()));
        sample.memory_utilization =
            states.map(|b| b.filter(|_| total > 0).map(|b| b as f64 / total as f64));
        Ok(())
    }
}

impl Read for SystemReader {
    type Sample = SystemSample;

    fn read(&mut self, sample: &mut SystemSample) {
        if let Err(e) = self.read_cpus(sample) {
            self.warnings.once("/proc/stat", "system.cpu.*", e);
            sample.cpu = CpuTimes::default();
            sample.per_cpu.clear();
            sample.logical_count = None;
        }
        if let Err(e) = self.read_memory(sample) {
            self.warnings.once("/proc/meminfo", "system.memory.*", e);
            sample.memory_usage = [None; 4];
            sample.memory_utilization = [None; 4];
        }
    }
}

/// A `/proc/stat` cpu line after its `cpu`: the CPU's number (none for the total line)
/// and its ticks per mode in [`CPU_MODES`] order.
fn parse_cpu_line(rest: &str) -> io::Result<(Option<i64>, [u64; 7])> {
    let mut fields = rest.split_whitespace();
    let number = match rest.starts_with(char::is_whitespace) {
        true => None,
        false => Some(
            fields
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| malformed("cpu number"))?,
        ),
    };
    // user nice system idle iowait irq softirq steal (guest guest_nice)
    let mut column = [0u64; 8];
    for value in &mut column {
        *value = fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| malformed("8 cpu columns"))?;
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal] = column;
    Ok((
        number,
        [user, nice, system, idle, iowait, irq + softirq, steal],
    ))
}

#[cfg(test)]
#[path = "system_tests.rs"]
mod tests;
