//! The readers behind the observers, and what they share: `/proc` files read into
//! reused buffers, their `key: value` lines, and one warning per source that fails.
//!
//! - `process.rs`: the current process (`/proc/self`, `getrusage`);
//! - `system.rs`: the host (`/proc/stat`, `/proc/meminfo`);
//! - `unix.rs`: what libc tells (`getrusage`, `sysconf`).
//!
//! `/proc` is read on Linux only: elsewhere those values are left out without a warning
//! (the platform has none), and only `getrusage`'s are reported.

pub(crate) mod process;
pub(crate) mod system;
mod unix;

use std::fmt::Display;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

/// Whether this platform has Linux's `/proc`.
const HAS_PROC: bool = cfg!(target_os = "linux");

/// One `/proc` file and the buffer it is read into (kept, so a read allocates nothing
/// once the buffer has grown to the file's size).
struct ProcFile {
    path: PathBuf,
    buf: Vec<u8>,
}

impl ProcFile {
    fn new(root: &Path, name: &str) -> Self {
        ProcFile {
            path: root.join(name),
            buf: Vec::new(),
        }
    }

    /// The file's whole text now.
    fn read(&mut self) -> io::Result<&str> {
        if !HAS_PROC {
            return Err(io::ErrorKind::Unsupported.into());
        }
        self.buf.clear();
        std::fs::File::open(&self.path)?.read_to_end(&mut self.buf)?;
        std::str::from_utf8(&self.buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// The number on the line `key: <number> [kB]` of `text` (`/proc/meminfo`,
/// `/proc/self/io`), unscaled.
fn value_of(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The sources that failed once already: each is logged at its first failure only, so a
/// file that is never readable (a hardened container's `/proc/self/io`) costs one line.
#[derive(Default)]
struct Warnings {
    warned: Vec<&'static str>,
}

impl Warnings {
    /// Logs that `source` could not be read and `metrics` are left out, unless said
    /// before. A platform without `/proc` is not a failure.
    fn once(&mut self, source: &'static str, metrics: &str, error: impl Display) {
        if self.warned.contains(&source) {
            return;
        }
        self.warned.push(source);
        if HAS_PROC || !source.starts_with("/proc") {
            tracing::warn!(
                %source,
                %error,
                "cannot read {source}: {metrics} left out of every collection until it can \
                 be read again"
            );
        }
    }

    /// Takes `value` if it was read; otherwise warns once and gives `None`.
    fn keep<T, E: Display>(
        &mut self,
        value: Result<T, E>,
        source: &'static str,
        metrics: &str,
    ) -> Option<T> {
        value.map_err(|e| self.once(source, metrics, e)).ok()
    }
}

/// Why a file that was read has no usable value.
fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("no {what} in it"))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines, shared with the subscriber that writes them.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_failing_source_is_logged_once() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let mut warnings = Warnings::default();
            for _ in 0..3 {
                warnings.once("getrusage", "process.cpu.time", "denied");
                let failed: Result<u8, _> = Err("denied");
                assert_eq!(warnings.keep(failed, "sysconf", "process.uptime"), None);
            }
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("cannot read getrusage").count(), 1, "{text}");
        assert_eq!(text.matches("cannot read sysconf").count(), 1, "{text}");
        assert!(text.contains("process.cpu.time left out"), "{text}");
    }

    #[test]
    fn value_of_finds_a_key_at_the_start_of_a_line_only() {
        let text = "MemTotal:       16314928 kB\nMemFree:  812 kB\nread_bytes: 4096\n";
        assert_eq!(value_of(text, "MemTotal"), Some(16_314_928));
        assert_eq!(value_of(text, "MemFree"), Some(812));
        assert_eq!(value_of(text, "read_bytes"), Some(4096));
        assert_eq!(value_of(text, "Total"), None);
        assert_eq!(value_of(text, "Mem"), None);
        assert_eq!(value_of("Cached: lots kB\n", "Cached"), None);
    }
}
