//! What the application sends a push task: commands, where their answers go, and the
//! callers waiting for a push to get through.

use std::sync::mpsc as std_mpsc;

use tokio::time::Instant;

use crate::{Error, Snapshot};

/// Where a command's answer goes: a thread blocked on it (`force_flush`, `shutdown`)
/// or a future (`export` of the SDK exporter).
pub(super) enum AnswerTo {
    Blocking(std_mpsc::SyncSender<Result<(), Error>>),
    Async(tokio::sync::oneshot::Sender<Result<(), Error>>),
}

impl AnswerTo {
    pub(super) fn send(self, result: Result<(), Error>) {
        // The caller may have given up waiting: nothing to do then.
        match self {
            AnswerTo::Blocking(tx) => {
                let _ = tx.send(result);
            }
            AnswerTo::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

pub(super) enum Command {
    Flush(AnswerTo),
    Shutdown(AnswerTo),
    /// Queue this snapshot (from outside: the SDK exporter) and answer once delivered.
    Export(Box<Snapshot>, AnswerTo),
}

/// A `force_flush` caller waiting for its push to get through.
pub(super) struct Waiter {
    pub(super) push: u64,
    pub(super) reply: AnswerTo,
    pub(super) deadline: Instant,
    /// Set when the endpoint refused part of this push.
    pub(super) refused: Option<String>,
}
