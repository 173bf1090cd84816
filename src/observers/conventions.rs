//! The semantic conventions' metrics the observers report (release 1.40.0): each one's
//! name, unit and a description of what prompush reports, one a line.

use super::{metric, Convention};

pub(super) const PROCESS_CPU_TIME: Convention = metric("process.cpu.time", "s", "CPU seconds used, per mode");
pub(super) const PROCESS_CPU_UTILIZATION: Convention = metric("process.cpu.utilization", "1", "CPU time used since the previous read, over that time and the CPUs available");
pub(super) const PROCESS_MEMORY_USAGE: Convention = metric("process.memory.usage", "By", "Resident memory");
pub(super) const PROCESS_MEMORY_VIRTUAL: Convention = metric("process.memory.virtual", "By", "Virtual memory");
pub(super) const PROCESS_THREAD_COUNT: Convention = metric("process.thread.count", "{thread}", "Threads");
pub(super) const PROCESS_FILE_DESCRIPTORS: Convention = metric("process.unix.file_descriptor.count", "{file_descriptor}", "Open file descriptors");
pub(super) const PROCESS_DISK_IO: Convention = metric("process.disk.io", "By", "Bytes read from or written to storage");
pub(super) const PROCESS_CONTEXT_SWITCHES: Convention = metric("process.context_switches", "{context_switch}", "Context switches");
pub(super) const PROCESS_PAGING_FAULTS: Convention = metric("process.paging.faults", "{fault}", "Page faults");
pub(super) const PROCESS_UPTIME: Convention = metric("process.uptime", "s", "Seconds since the process started");
pub(super) const SYSTEM_CPU_TIME: Convention = metric("system.cpu.time", "s", "Seconds the CPUs spent in each mode");
pub(super) const SYSTEM_CPU_UTILIZATION: Convention = metric("system.cpu.utilization", "1", "Share of the time since the previous read the CPUs spent in each mode");
pub(super) const SYSTEM_LOGICAL_COUNT: Convention = metric("system.cpu.logical.count", "{cpu}", "Logical CPUs online");
pub(super) const SYSTEM_MEMORY_USAGE: Convention = metric("system.memory.usage", "By", "Memory per state");
pub(super) const SYSTEM_MEMORY_UTILIZATION: Convention = metric("system.memory.utilization", "1", "Share of the total memory per state");
