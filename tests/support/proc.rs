//! The test process's resident memory as Linux's `/proc` shows it; `None` where `/proc`
//! is missing.

/// The process's resident memory (`VmRSS` of `/proc/self/status`), in bytes.
pub fn resident_bytes() -> Option<u64> {
    let kib: u64 = status_field("VmRSS:")?.parse().ok()?;
    Some(kib * 1024)
}

/// The first value of the line starting with `field` in `/proc/self/status`.
fn status_field(field: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    Some(line.split_whitespace().nth(1)?.to_owned())
}
