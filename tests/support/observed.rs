//! The process and host observers' families, shared by the loopback and real-server
//! tests of what they report.

use std::time::Duration;

use prompush::receiver::MetricType::{self, Counter, Gauge};
use prompush::{process, system, MeterProvider, MeterProviderBuilder};

const CPU_MODES: &[&str] = &[
    "idle",
    "interrupt",
    "iowait",
    "nice",
    "steal",
    "system",
    "user",
];
const MEMORY_STATES: &[&str] = &["buffers", "cached", "free", "used"];

/// Every family of both observers: its Prometheus name and type, and its label with
/// each value (none for a family of one unlabelled series).
#[rustfmt::skip]
pub const FAMILIES: &[(&str, MetricType, &str, &[&str])] = &[
    ("process_context_switches_total", Counter, "process_context_switch_type", &["voluntary", "involuntary"]),
    ("process_cpu_time_seconds_total", Counter, "cpu_mode", &["user", "system"]),
    ("process_cpu_utilization_ratio", Gauge, "cpu_mode", &["user", "system"]),
    ("process_disk_io_bytes_total", Counter, "disk_io_direction", &["read", "write"]),
    ("process_memory_usage_bytes", Gauge, "", &[]),
    ("process_memory_virtual_bytes", Gauge, "", &[]),
    ("process_paging_faults_total", Counter, "system_paging_fault_type", &["major", "minor"]),
    ("process_thread_count", Gauge, "", &[]),
    ("process_unix_file_descriptor_count", Gauge, "", &[]),
    ("process_uptime_seconds", Gauge, "", &[]),
    ("system_cpu_logical_count", Gauge, "", &[]),
    ("system_cpu_time_seconds_total", Counter, "cpu_mode", CPU_MODES),
    ("system_cpu_utilization_ratio", Gauge, "cpu_mode", CPU_MODES),
    ("system_memory_usage_bytes", Gauge, "system_memory_state", MEMORY_STATES),
    ("system_memory_utilization_ratio", Gauge, "system_memory_state", MEMORY_STATES),
];

/// Long enough for a utilization window: several clock ticks (10 ms) on every CPU.
pub const WINDOW: Duration = Duration::from_millis(50);

/// A provider from `builder` (without self-metrics) with both observers on one meter,
/// and their handles.
pub fn observed(builder: MeterProviderBuilder) -> (MeterProvider, impl std::fmt::Debug) {
    let provider = builder.with_self_metrics(false).build().unwrap();
    let meter = provider.meter("observers");
    let process = process::register(&meter).unwrap();
    let system = system::register(&meter).unwrap();
    (provider, (process, system))
}

/// The logical CPUs `/proc/stat` lists.
pub fn logical_cpus() -> usize {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu_lines = stat.lines().filter(|l| l.starts_with("cpu")).count();
    cpu_lines - 1
}
