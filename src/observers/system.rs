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

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use opentelemetry::metrics::{AsyncInstrument, AsyncInstrumentBuilder, Meter};
use opentelemetry::KeyValue;

use super::read::system::{CpuTimes, SystemReader, CPU_MODES, MEMORY_STATES};
use super::{described, each, metric, Convention, Observers};
use crate::Error;

pub use super::Options;

/// Keeps the host's observable instruments. They observe for the provider's life
/// whether this handle is kept or not; `Debug` lists them.
pub struct SystemMetrics {
    instruments: Vec<Box<dyn fmt::Debug + Send + Sync>>,
}

impl fmt::Debug for SystemMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.instruments).finish()
    }
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
    let time = meter.f64_observable_counter(CPU_TIME.name);
    o.keep(o.cpu(time, &CPU_TIME, |t| &t.seconds).build());
    let utilization = meter.f64_observable_gauge(CPU_UTILIZATION.name);
    o.keep(
        o.cpu(utilization, &CPU_UTILIZATION, |t| &t.utilization)
            .build(),
    );
    o.i64_up_down(&LOGICAL_COUNT, [None], |s| [s.logical_count]);
    let state = || each("system.memory.state", MEMORY_STATES);
    o.i64_up_down(&MEMORY_USAGE, state(), |s| s.memory_usage);
    o.f64_gauge(&MEMORY_UTILIZATION, state(), |s| s.memory_utilization);
    Ok(SystemMetrics {
        instruments: o.kept,
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

const CPU_TIME: Convention = metric(
    "system.cpu.time",
    "s",
    "Seconds the CPUs spent in each mode",
);
const CPU_UTILIZATION: Convention = metric(
    "system.cpu.utilization",
    "1",
    "Share of the time since the previous read the CPUs spent in each mode",
);
const LOGICAL_COUNT: Convention =
    metric("system.cpu.logical.count", "{cpu}", "Logical CPUs online");
const MEMORY_USAGE: Convention = metric("system.memory.usage", "By", "Memory per state");
const MEMORY_UTILIZATION: Convention = metric(
    "system.memory.utilization",
    "1",
    "Share of the total memory per state",
);
