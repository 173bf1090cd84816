//! Process metrics: [`register`] observes the current process under the names, units,
//! instrument kinds and attributes of the OpenTelemetry semantic conventions, release
//! 1.40.0.
//!
//! | metric | instrument | unit | attributes | Prometheus |
//! |---|---|---|---|---|
//! | `process.cpu.time` | counter | `s` | `cpu.mode`: `user`, `system` | `process_cpu_time_seconds_total` |
//! | `process.cpu.utilization` | gauge | `1` | `cpu.mode`: `user`, `system` | `process_cpu_utilization_ratio` |
//! | `process.memory.usage` | up-down counter | `By` | | `process_memory_usage_bytes` |
//! | `process.memory.virtual` | up-down counter | `By` | | `process_memory_virtual_bytes` |
//! | `process.thread.count` | up-down counter | `{thread}` | | `process_thread_count` |
//! | `process.unix.file_descriptor.count` | up-down counter | `{file_descriptor}` | | `process_unix_file_descriptor_count` |
//! | `process.disk.io` | counter | `By` | `disk.io.direction`: `read`, `write` | `process_disk_io_bytes_total` |
//! | `process.context_switches` | counter | `{context_switch}` | `process.context_switch.type`: `voluntary`, `involuntary` | `process_context_switches_total` |
//! | `process.paging.faults` | counter | `{fault}` | `system.paging.fault.type`: `major`, `minor` | `process_paging_faults_total` |
//! | `process.uptime` | gauge | `s` | | `process_uptime_seconds` |
//!
//! On Linux every metric is read (`getrusage`, `/proc/self`); on other Unix systems the
//! CPU time and utilization, context switches and page faults (`getrusage`). A value
//! that cannot be read is left out of the collection, never reported as 0, and the
//! first failure of each source is logged. `process.network.io` is not observed: Linux
//! counts network bytes per network namespace, not per process.

use std::num::NonZeroUsize;
use std::path::Path;

use opentelemetry::metrics::Meter;

use super::conventions::*;
use super::read::process::ProcessReader;
use super::{each, Kept, Observers};
use crate::Error;

pub use super::Options;

/// Keeps the process's observable instruments. They observe for the provider's life
/// whether this handle is kept or not (the OpenTelemetry API cannot unregister an
/// observable instrument); `Debug` lists them.
#[derive(Debug)]
pub struct ProcessMetrics {
    // Held, never read: keeping the handles is the point.
    _instruments: Kept,
}

/// Observes the current process on `meter` with the default [`Options`]: the metrics
/// of the [module's table](self), read at most once a second whatever the number of
/// destinations and collections.
///
/// Fails with [`Error::ObserversUnavailable`] where nothing can be read (Windows, say).
///
/// ```
/// use opentelemetry::metrics::MeterProvider as _;
///
/// let provider = prompush::MeterProvider::builder().build()?;
/// let _process = prompush::process::register(&provider.meter("my-service"))?;
/// # #[cfg(target_os = "linux")]
/// assert!(provider.collect().metric("process.memory.usage").is_some());
/// # Ok::<(), prompush::Error>(())
/// ```
pub fn register(meter: &Meter) -> Result<ProcessMetrics, Error> {
    register_with(meter, Options::default())
}

/// [`register`] with other [`Options`].
pub fn register_with(meter: &Meter, options: Options) -> Result<ProcessMetrics, Error> {
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let reader = ProcessReader::new(Path::new("/proc"), cpus);
    let mut o = Observers::new(meter, reader, options.max_age)
        .ok_or(Error::ObserversUnavailable("process"))?;
    let cpu_mode = || each("cpu.mode", ["user", "system"]);
    o.f64_counter(&PROCESS_CPU_TIME, cpu_mode(), |s| s.cpu_time);
    o.f64_gauge(&PROCESS_CPU_UTILIZATION, cpu_mode(), |s| s.cpu_utilization);
    o.i64_up_down(&PROCESS_MEMORY_USAGE, [None], |s| [s.memory_usage]);
    o.i64_up_down(&PROCESS_MEMORY_VIRTUAL, [None], |s| [s.memory_virtual]);
    o.i64_up_down(&PROCESS_THREAD_COUNT, [None], |s| [s.threads]);
    o.i64_up_down(&PROCESS_FILE_DESCRIPTORS, [None], |s| [s.file_descriptors]);
    let direction = each("disk.io.direction", ["read", "write"]);
    o.u64_counter(&PROCESS_DISK_IO, direction, |s| s.disk_io);
    let switch = each("process.context_switch.type", ["voluntary", "involuntary"]);
    o.u64_counter(&PROCESS_CONTEXT_SWITCHES, switch, |s| s.context_switches);
    let fault = each("system.paging.fault.type", ["major", "minor"]);
    o.u64_counter(&PROCESS_PAGING_FAULTS, fault, |s| s.paging_faults);
    o.f64_gauge(&PROCESS_UPTIME, [None], |s| [s.uptime]);
    Ok(ProcessMetrics {
        _instruments: o.kept,
    })
}
