//! The application's side of a push task: commands (`force_flush`, `shutdown`,
//! `export`) sent over a channel, and bounded waits for their answers.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::Instrument as _;

use super::command::{AnswerTo, Command};
use super::self_metrics::SelfMetrics;
use super::task::Task;
use super::{CollectFn, Delivery};
use crate::transport::{HttpSender, ValidatedTransport};
use crate::{Error, Snapshot};

/// The handle on a running push task. Dropping it ends the task after a final push,
/// bounded by the shutdown timeout.
pub(crate) struct Pipeline {
    commands: mpsc::UnboundedSender<Command>,
    flush_wait: Duration,
    shutdown_wait: Duration,
}

impl Pipeline {
    /// Starts the push task on the background runtime. With a collect function it collects
    /// and pushes every interval; without one it pushes what [`export`](Self::export)
    /// hands it.
    pub(crate) fn start(
        transport: ValidatedTransport,
        delivery: Delivery,
        collect: Option<CollectFn>,
        metrics: SelfMetrics,
    ) -> Result<Self, Error> {
        let runtime = crate::runtime::handle()?;
        let flush_wait = transport.timeout;
        let sender = Arc::new(HttpSender::new(transport, delivery.protocol)?);
        let task = Task::new(sender, delivery, collect, metrics, flush_wait);
        Ok(Self::spawn(&runtime, task))
    }

    /// Runs `task` on `runtime` (unit tests pass a current-thread runtime with a
    /// paused clock, and a task with a scripted [`Deliver`](super::deliver::Deliver)).
    pub(super) fn spawn(runtime: &tokio::runtime::Handle, task: Task) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        // Margins: the task answers at its own deadline; this only guards against a
        // task that cannot run at all.
        let margin = Duration::from_secs(2);
        let pipeline = Pipeline {
            commands,
            flush_wait: task.flush_wait.saturating_add(margin),
            shutdown_wait: task.delivery.shutdown_timeout.saturating_add(margin),
        };
        let span = tracing::info_span!("prompush", destination = %task.delivery.name);
        runtime.spawn(task.run(rx).instrument(span));
        pipeline
    }

    /// Pushes now and waits until that push is delivered, refused, or still failing
    /// after the push timeout.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.begin_flush().wait()
    }

    /// Makes the final push, retries until the shutdown deadline, then ends the task.
    pub(crate) fn shutdown(&self) -> Result<(), Error> {
        self.begin_shutdown().wait()
    }

    /// Starts a flush without waiting for it: several destinations flush at once.
    pub(crate) fn begin_flush(&self) -> Pending {
        self.begin(Command::Flush, self.flush_wait)
    }

    /// Starts the shutdown without waiting for it.
    pub(crate) fn begin_shutdown(&self) -> Pending {
        self.begin(Command::Shutdown, self.shutdown_wait)
    }

    /// Queues a snapshot and resolves once it is delivered, refused, or still failing
    /// after the push timeout.
    pub(crate) async fn export(&self, snapshot: Snapshot) -> Result<(), Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.commands
            .send(Command::Export(Box::new(snapshot), AnswerTo::Async(reply)))
            .map_err(|_| Error::PipelineStopped)?;
        answer.await.unwrap_or(Err(Error::PipelineStopped))
    }

    /// Sends a flush or shutdown and awaits its answer (the task's own deadlines bound
    /// it): for callers that are futures themselves.
    #[cfg(test)]
    pub(super) async fn ask(&self, command: fn(AnswerTo) -> Command) -> Result<(), Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.commands
            .send(command(AnswerTo::Async(reply)))
            .map_err(|_| Error::PipelineStopped)?;
        answer.await.unwrap_or(Err(Error::PipelineStopped))
    }

    fn begin(&self, command: fn(AnswerTo) -> Command, wait: Duration) -> Pending {
        // A std channel: the caller may be on any thread, inside a runtime or not.
        let (reply, answer) = std_mpsc::sync_channel(1);
        let sent = self
            .commands
            .send(command(AnswerTo::Blocking(reply)))
            .is_ok();
        Pending {
            answer: sent.then_some(answer),
            // `None`: so far off (an absurd configured wait) that it never comes.
            deadline: std::time::Instant::now().checked_add(wait),
            wait,
        }
    }
}

/// A command sent to a push task, whose answer has not been read yet.
pub(crate) struct Pending {
    /// `None` when the task had already stopped.
    answer: Option<std_mpsc::Receiver<Result<(), Error>>>,
    deadline: Option<std::time::Instant>,
    wait: Duration,
}

impl Pending {
    /// Waits for the answer, until the deadline set when the command was sent.
    pub(crate) fn wait(self) -> Result<(), Error> {
        let Some(answer) = self.answer else {
            return Err(Error::PipelineStopped);
        };
        let Some(deadline) = self.deadline else {
            return answer.recv().unwrap_or(Err(Error::PipelineStopped));
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match answer.recv_timeout(left) {
            Ok(result) => result,
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout(self.wait)),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(Error::PipelineStopped),
        }
    }
}
