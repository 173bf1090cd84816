//! Host metrics: [`register`] observes the machine's CPUs and memory under the names,
//! units, instrument kinds and attributes of the OpenTelemetry semantic conventions,
//! release 1.40.0.
//!
//! | metric | instrument | unit | attributes | Prometheus |
//! |---|---|---|---|---|
//! | `system.cpu.time` | counter | `s` | `cpu.mode` (and `cpu.logical_number`, opt-in) | `system_cpu_time_seconds_total` |
//! | `system.cpu.utilization` | gauge | `1` | `cpu.mode` (and `cpu.logical_number`, opt-in) | `system_cpu_utilization_ratio` |
//! | `system.cpu.logical.count` | up-down counter | `{cpu}` | | `system_cpu_logical_count` |
//! | `system.memory.usage` | up-down counter | `By` | `system.memory.state` | `system_memory_usage_bytes` |
//! | `system.memory.utilization` | gauge | `1` | `system.memory.state` | `system_memory_utilization_ratio` |
//!
//! `cpu.mode` is one of `user`, `nice`, `system`, `idle`, `iowait`, `interrupt` (irq and
//! softirq), `steal`; `system.memory.state` one of `used` (on Linux `MemTotal -
//! MemAvailable`, as the conventions define it), `free`, `buffers`, `cached`. Linux
//! only (`/proc/stat`, `/proc/meminfo`): elsewhere [`register`] fails with
//! [`Error::ObserversUnavailable`].

use std::path::Path;
use std::sync::Arc;

use opentelemetry::metrics::{AsyncInstrument, AsyncInstrumentBuilder, Meter};
use opentelemetry::KeyValue;

use super::conventions::*;
use super::read::system::{CpuTimes, SystemReader, CPU_MODES, MEMORY_STATES};
use super::{described, each, Convention, Kept, Observers};
use crate::Error;

pub use super::Options;

/// Keeps the host's observable instruments. They observe for the provider's life
/// whether this handle is kept or not; `Debug` lists them.
#[derive(Debug)]
pub struct SystemMetrics {
    // Held, never read: keeping the handles is the point.
    _instruments: Kept,
}

/// Observes the host on `meter` with the default [`Options`]: the metrics of the
/// [module's table](self), for all CPUs together, read at most once a second whatever
/// the number of destinations and collections.
///
/// Fails with [`Error::ObserversUnavailable`] where nothing can be read (not Linux, or
/// no `/proc`).
///
/// ```
/// use opentelemetry::metrics::MeterProvider as _;
///
/// let provider = prompush::MeterProvider::builder().build()?;
/// # #[cfg(target_os = "linux")]
/// let _host = prompush::system::register(&provider.meter("my-service"))?;
/// # Ok::<(), prompush::Error>(())
/// ```
pub fn register(meter: &Meter) -> Result<SystemMetrics, Error> {
    register_with(meter, Options::default())
}

/// [`register`] with other [`Options`].
pub fn register_with(meter: &Meter, options: Options) -> Result<SystemMetrics, Error> {
    let reader = SystemReader::new(Path::new("/proc"), options.per_cpu);
    let mut o = Observers::new(meter, reader, options.max_age)
        .ok_or(Error::ObserversUnavailable("system"))?;
    let time = meter.f64_observable_counter(SYSTEM_CPU_TIME.name);
    let time = o.cpu(time, &SYSTEM_CPU_TIME, |t| &t.seconds);
    o.keep(time.build());
    let share = meter.f64_observable_gauge(SYSTEM_CPU_UTILIZATION.name);
    let share = o.cpu(share, &SYSTEM_CPU_UTILIZATION, |t| &t.utilization);
    o.keep(share.build());
    o.i64_up_down(&SYSTEM_LOGICAL_COUNT, [None], |s| [s.logical_count]);
    let state = || each("system.memory.state", MEMORY_STATES);
    o.i64_up_down(&SYSTEM_MEMORY_USAGE, state(), |s| s.memory_usage);
    o.f64_gauge(&SYSTEM_MEMORY_UTILIZATION, state(), |s| {
        s.memory_utilization
    });
    Ok(SystemMetrics {
        _instruments: o.kept,
    })
}

impl Observers<'_, SystemReader> {
    /// A per-mode CPU metric: `pick`'s values for all CPUs together, or for each logical
    /// CPU when the reader was asked for them.
    fn cpu<'b, I>(
        &self,
        builder: AsyncInstrumentBuilder<'b, I, f64>,
        convention: &Convention,
        pick: fn(&CpuTimes) -> &[Option<f64>; 7],
    ) -> AsyncInstrumentBuilder<'b, I, f64> {
        let cached = Arc::clone(&self.cached);
        described(builder, convention).with_callback(move |observer| {
            cached.with(|sample| {
                if sample.per_cpu.is_empty() {
                    observe_modes(observer, &sample.cpu, pick);
                }
                for cpu in &sample.per_cpu {
                    observe_modes(observer, cpu, pick);
                }
            })
        })
    }
}
/// One CPU's (or all CPUs') values per mode; each attribute set is built on the stack
/// from static strings and a number, so this allocates nothing.
fn observe_modes(
    observer: &dyn AsyncInstrument<f64>,
    cpu: &CpuTimes,
    pick: fn(&CpuTimes) -> &[Option<f64>; 7],
) {
    for (mode, value) in CPU_MODES.iter().zip(pick(cpu)) {
        let Some(value) = *value else { continue };
        let mode = KeyValue::new("cpu.mode", *mode);
        match cpu.number {
            None => observer.observe(value, &[mode]),
            Some(n) => observer.observe(value, &[mode, KeyValue::new("cpu.logical_number", n)]),
        }
    }
}
