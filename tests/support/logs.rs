//! Capturing `tracing` output as text: per thread, or for the whole test binary.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// A shared in-memory log sink.
#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// A subscriber writing every event, at trace level, into this buffer.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }
}

/// Runs `f` with every `tracing` event of this thread captured as text.
pub fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buf = LogBuf::default();
    let out = tracing::subscriber::with_default(buf.subscriber(), f);
    (out, buf.text())
}

/// Every `tracing` event of this test binary, from any thread (the push tasks log on
/// prompush's own threads). Installed as the global subscriber on first use.
pub fn global_logs() -> &'static LogBuf {
    static LOGS: OnceLock<LogBuf> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let _ = tracing::subscriber::set_global_default(buf.subscriber());
        buf
    })
}
