//! The push pipeline: every interval, collect → translate → encode → POST.
//!
//! One task per provider runs on the shared background runtime (`crate::runtime`). The
//! application talks to it through a command channel: `force_flush` and `shutdown`
//! send a command and wait (bounded) for the push it triggers to be answered.
//! Instruments never touch this module: recording cannot wait on the network.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{self, Instant, MissedTickBehavior};

use crate::prometheus::encode::WriteRequestEncoder;
use crate::prometheus::translate::Translator;
use crate::transport::{HttpSender, SendOutcome, ValidatedTransport};
use crate::{Error, Snapshot};

/// Collects a snapshot: the pipeline's only view of the provider.
pub(crate) type Collector = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// Retries within one push for retryable failures (full retry policy: issue 5).
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(30);

enum Command {
    Flush(std_mpsc::SyncSender<Result<(), Error>>),
    Shutdown(std_mpsc::SyncSender<Result<(), Error>>),
}

/// The handle on a running push task. Dropping it ends the task after one last push.
pub(crate) struct Pipeline {
    commands: mpsc::UnboundedSender<Command>,
    /// Bounds how long `flush`/`shutdown` wait: every attempt of one push.
    wait: Duration,
}

impl Pipeline {
    /// Starts the push task on the background runtime.
    pub(crate) fn start(
        transport: ValidatedTransport,
        interval: Duration,
        collect: Collector,
    ) -> Result<Self, Error> {
        let timeout = transport.timeout;
        let sender = HttpSender::new(transport)?;
        let handle = crate::runtime::handle()?;
        let (commands, rx) = mpsc::unbounded_channel();
        let exporter = Exporter {
            sender,
            translator: Translator::new(),
            encoder: WriteRequestEncoder::new(),
        };
        handle.spawn(run(exporter, interval, collect, rx));
        let backoff: Duration = (0..ATTEMPTS).map(|i| FIRST_BACKOFF * 2u32.pow(i)).sum();
        Ok(Pipeline {
            commands,
            wait: timeout * ATTEMPTS + backoff + Duration::from_secs(1),
        })
    }

    /// Pushes now and waits for the endpoint's answer.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.request(Command::Flush)
    }

    /// Makes the final push, then ends the task.
    pub(crate) fn shutdown(&self) -> Result<(), Error> {
        self.request(Command::Shutdown)
    }

    fn request(
        &self,
        command: fn(std_mpsc::SyncSender<Result<(), Error>>) -> Command,
    ) -> Result<(), Error> {
        // A std channel: the caller may be on any thread, inside a runtime or not.
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.commands
            .send(command(reply))
            .map_err(|_| Error::PipelineStopped)?;
        match answer.recv_timeout(self.wait) {
            Ok(result) => result,
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout(self.wait)),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(Error::PipelineStopped),
        }
    }
}

async fn run(
    mut exporter: Exporter,
    interval: Duration,
    collect: Collector,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut ticker = time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = exporter.push(&collect()).await {
                    tracing::warn!("periodic push failed: {e}");
                }
            }
            command = commands.recv() => match command {
                Some(Command::Flush(reply)) => {
                    let _ = reply.send(exporter.push(&collect()).await);
                }
                Some(Command::Shutdown(reply)) => {
                    let _ = reply.send(exporter.push(&collect()).await);
                    return;
                }
                None => {
                    // Every handle on the provider was dropped without shutdown: push
                    // what was recorded since the last push, best effort.
                    if let Err(e) = exporter.push(&collect()).await {
                        tracing::warn!("final push after the provider was dropped failed: {e}");
                    }
                    return;
                }
            }
        }
    }
}

struct Exporter {
    sender: HttpSender,
    translator: Translator,
    encoder: WriteRequestEncoder,
}

impl Exporter {
    async fn push(&mut self, snapshot: &Snapshot) -> Result<(), Error> {
        self.encoder.clear();
        let series = self.translator.translate(snapshot, &mut self.encoder);
        if series == 0 {
            return Ok(());
        }
        // One copy per push into a shared buffer: a retry re-sends the same bytes.
        let body = bytes::Bytes::copy_from_slice(self.encoder.finish()?);
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match self.sender.send(body.clone()).await {
                SendOutcome::Success { status } => {
                    tracing::debug!(
                        // Host and path only: a query string may carry credentials.
                        host = self.sender.endpoint().host_str().unwrap_or_default(),
                        path = self.sender.endpoint().path(),
                        %status,
                        series,
                        bytes = body.len(),
                        "pushed"
                    );
                    return Ok(());
                }
                SendOutcome::Permanent(failure) => {
                    return Err(Error::Push(failure.to_string()));
                }
                SendOutcome::Retryable(failure) if attempt == ATTEMPTS => {
                    return Err(Error::Push(failure.to_string()));
                }
                SendOutcome::Retryable(failure) => {
                    let wait = failure.retry_after.unwrap_or(backoff).min(backoff * 4);
                    tracing::debug!(attempt, ?wait, "retrying push: {failure}");
                    time::sleep(wait).await;
                    backoff *= 2;
                }
            }
        }
        Ok(())
    }
}
