//! The background runtime: one small tokio runtime on its own thread, shared by every
//! provider of the process.
//!
//! Owning it keeps the push pipeline independent of the application: it works when the
//! application runs no tokio runtime, or one of any flavour, and a busy or blocked
//! application runtime never delays a push (nor does a slow endpoint delay the
//! application's threads).

use std::sync::OnceLock;

use tokio::runtime::Handle;

use crate::Error;

static RUNTIME: OnceLock<Result<Handle, String>> = OnceLock::new();

/// The shared runtime's handle, starting it on first use.
pub(crate) fn handle() -> Result<Handle, Error> {
    RUNTIME.get_or_init(start).clone().map_err(Error::Runtime)
}

fn start() -> Result<Handle, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Its blocking pool (encoding) gets the tokio threads' name; the runtime
        // thread itself is the one named "prompush".
        .thread_name("prompush-worker")
        .build()
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("prompush".into())
        // Runs for the life of the process; tasks end when their provider does.
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .map_err(|e| format!("cannot start the background thread: {e}"))?;
    Ok(handle)
}
