//! Capturing every thread's `tracing` output as text for as long as a test holds a
//! [`LogCapture`].

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
}

/// Every `tracing` event from any thread (the push tasks log on prompush's own threads)
/// between its start and its drop. The tests of one binary run at once, so the text
/// holds other tests' events too: assertions match what only this test's endpoints or
/// destinations log.
pub struct LogCapture {
    buf: LogBuf,
}

/// The buffers of the captures alive now; the global subscriber writes to each.
fn captures() -> &'static Mutex<Vec<LogBuf>> {
    static CAPTURES: OnceLock<Mutex<Vec<LogBuf>>> = OnceLock::new();
    CAPTURES.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| FanOut)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        Mutex::new(Vec::new())
    })
}

/// Writes each formatted event to every live capture.
struct FanOut;

impl Write for FanOut {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        for buf in captures().lock().unwrap().iter_mut() {
            buf.write_all(b)?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Starts capturing every thread's events.
    pub fn start() -> LogCapture {
        let buf = LogBuf::default();
        captures().lock().unwrap().push(buf.clone());
        LogCapture { buf }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        self.buf.text()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        let mut live = captures().lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|buf| !Arc::ptr_eq(&buf.0, &self.buf.0));
    }
}
