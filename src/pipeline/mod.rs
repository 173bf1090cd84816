//! The push pipeline: every interval, collect → translate → encode → queue → POST.
//!
//! One task per destination runs on the shared background runtime (`crate::runtime`):
//! each collects at its own interval and has its own queue, retries and connection
//! state, so a slow or dead destination never delays another. A task owns a FIFO
//! [`queue`] of encoded requests and sends strictly from its front, so a series'
//! samples always reach the endpoint in timestamp order; failures are retried with
//! [`backoff`], and the queue's memory is capped. The application talks to the task
//! through a command channel: `force_flush` and `shutdown` send a command and wait,
//! bounded, for the answer. Instruments never touch this module: recording cannot wait
//! on the network.

mod backoff;
mod clock;
pub(crate) mod metrics;
pub(crate) mod options;
mod queue;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::{self, Instant, MissedTickBehavior};
use tracing::Instrument as _;

use crate::prometheus::batch;
use crate::prometheus::custom_json::{self, CustomMetricsEncoder};
use crate::prometheus::encode::WriteRequestEncoder;
use crate::prometheus::translate::{Collisions, Labels, Metadata, SeriesSink, Translator};
use crate::snapshot::{
    Attributes, MetricData, MetricSnapshot, Number, NumberPoint, ScopeSnapshot, STALE_NAN_BITS,
};
use crate::transport::{FailureKind, HttpSender, Protocol, SendOutcome, ValidatedTransport};
use crate::{Error, Snapshot};
use backoff::Backoff;
use clock::PushClock;
use metrics::{DropReason, SelfMetrics};
use queue::{Batch, Queue};

/// Collects a snapshot: the pipeline's only view of the provider.
pub(crate) type Collector = Arc<dyn Fn() -> Collection + Send + Sync>;

/// What a collector hands the pipeline.
pub(crate) struct Collection {
    /// The metrics to push.
    pub(crate) snapshot: Snapshot,
    /// Metrics pushed before that end now (a deleted custom metric, say): their series
    /// get stale markers, before the snapshot's values.
    pub(crate) ending: Option<Snapshot>,
}

impl From<Snapshot> for Collection {
    fn from(snapshot: Snapshot) -> Self {
        Collection {
            snapshot,
            ending: None,
        }
    }
}

/// Delivery settings of one destination (the builder's options; defaults in
/// [`options`]).
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// The destination's name, for logs and the `prompush_*` metrics.
    pub(crate) name: String,
    pub(crate) protocol: Protocol,
    pub(crate) interval: Duration,
    /// For protocols whose bodies are cut by size (JSON): the largest body.
    pub(crate) max_body_bytes: usize,
    /// Added to every series that lacks a label of the name.
    pub(crate) external_labels: Vec<(String, String)>,
    /// Whether pushes carry `target_info` (one pipeline per destination does: two
    /// pipelines sending one series would interleave its timestamps).
    pub(crate) target_info: bool,
    /// Whether series carry `otel_scope_name` and `otel_scope_version`.
    pub(crate) scope_labels: bool,
    pub(crate) max_samples_per_send: usize,
    pub(crate) max_pending_bytes: usize,
    pub(crate) min_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) shutdown_timeout: Duration,
}

/// Where a command's answer goes: a thread blocked on it (`force_flush`, `shutdown`)
/// or a future (`export` of the SDK exporter).
enum Reply {
    Blocking(std_mpsc::SyncSender<Result<(), Error>>),
    Async(tokio::sync::oneshot::Sender<Result<(), Error>>),
}

impl Reply {
    fn send(self, result: Result<(), Error>) {
        // The caller may have given up waiting: nothing to do then.
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(result);
            }
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

enum Command {
    Flush(Reply),
    Shutdown(Reply),
    /// Queue this snapshot (from outside: the SDK exporter) and answer once delivered.
    Export(Box<Snapshot>, Reply),
}

/// The handle on a running push task. Dropping it ends the task after a final push,
/// bounded by the shutdown timeout.
pub(crate) struct Pipeline {
    commands: mpsc::UnboundedSender<Command>,
    flush_wait: Duration,
    shutdown_wait: Duration,
}

impl Pipeline {
    /// Starts the push task on the background runtime. With a collector it collects
    /// and pushes every interval; without one it pushes what [`export`](Self::export)
    /// hands it.
    pub(crate) fn start(
        transport: ValidatedTransport,
        delivery: Delivery,
        collect: Option<Collector>,
        metrics: SelfMetrics,
    ) -> Result<Self, Error> {
        let flush_wait = transport.timeout;
        let sender = HttpSender::new(transport, delivery.protocol)?;
        let handle = crate::runtime::handle()?;
        let (commands, rx) = mpsc::unbounded_channel();
        // Margins: the task answers at its own deadline; this only guards against a
        // task that cannot run at all.
        let margin = Duration::from_secs(2);
        let pipeline = Pipeline {
            commands,
            flush_wait: flush_wait.saturating_add(margin),
            shutdown_wait: delivery.shutdown_timeout.saturating_add(margin),
        };
        let task = Task {
            backoff: Backoff::new(delivery.min_backoff, delivery.max_backoff),
            queue: Queue::new(delivery.max_pending_bytes),
            delivery: delivery.clone(),
            encoding: Some(Encoding::new(collect.clone(), &delivery)),
            collect,
            sender,
            metrics,
            pushes: 0,
            retry_at: None,
            last_failure: None,
            last_refusal: None,
            waiters: Vec::new(),
            flush_wait,
            refusals_logged: HashMap::new(),
            failure_logged: None,
            eviction_logged: None,
            unrepresentable_logged: None,
            failing_since: None,
        };
        let span = tracing::info_span!("prompush", destination = %delivery.name);
        handle.spawn(task.run(rx).instrument(span));
        Ok(pipeline)
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
            .send(Command::Export(Box::new(snapshot), Reply::Async(reply)))
            .map_err(|_| Error::PipelineStopped)?;
        answer.await.unwrap_or(Err(Error::PipelineStopped))
    }

    fn begin(&self, command: fn(Reply) -> Command, wait: Duration) -> Pending {
        // A std channel: the caller may be on any thread, inside a runtime or not.
        let (reply, answer) = std_mpsc::sync_channel(1);
        let sent = self.commands.send(command(Reply::Blocking(reply))).is_ok();
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

/// A `force_flush` caller waiting for its push to get through.
struct Waiter {
    push: u64,
    reply: Reply,
    deadline: Instant,
    /// Set when the endpoint refused part of this push.
    refused: Option<String>,
}

/// Collection and encoding: CPU work, run on a blocking thread so that one provider's
/// large push never stalls the shared runtime (other providers' pushes, receivers).
struct Encoding {
    translator: Translator,
    format: Format,
    /// `None` for a pipeline fed by `export`.
    collect: Option<Collector>,
    max_samples_per_send: usize,
    max_body_bytes: usize,
    /// The attribute sets each observable instrument reported last push, to mark the
    /// ones it stops reporting as stale.
    observed: HashMap<u64, HashSet<Attributes>>,
    /// A pipeline fed by `export`: the last snapshot exported, whose series that the
    /// next export lacks get stale markers (and all of them after the final export).
    last_export: Option<Snapshot>,
    clock: PushClock,
}

/// What encoding one push produced.
#[derive(Default)]
struct Encoded {
    batches: Vec<Batch>,
    /// Values the format could not carry.
    unrepresentable: usize,
    collisions: Collisions,
}

/// The body format of the destination's protocol, with its reusable state.
// One per destination, never moved around: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Format {
    RemoteWrite {
        encoder: WriteRequestEncoder,
        snappy: snap::raw::Encoder,
        /// Compression scratch: each request is then copied out at its exact size, so
        /// the queue's byte count is the memory it holds.
        scratch: Vec<u8>,
    },
    CustomMetricsJson(CustomMetricsEncoder),
}

struct Task {
    delivery: Delivery,
    sender: HttpSender,
    /// `None` only while a blocking thread has it.
    encoding: Option<Encoding>,
    /// Kept to rebuild `encoding` should collection or encoding ever panic.
    collect: Option<Collector>,
    metrics: SelfMetrics,
    queue: Queue,
    backoff: Backoff,
    /// Pushes enqueued so far; batches carry their push's number.
    pushes: u64,
    /// When the front batch may be tried again after a retryable failure.
    retry_at: Option<Instant>,
    last_failure: Option<String>,
    /// The last refusal's message (for the final push's result).
    last_refusal: Option<String>,
    waiters: Vec<Waiter>,
    flush_wait: Duration,
    /// Refusals are logged once per status per minute.
    refusals_logged: HashMap<u16, Option<Instant>>,
    /// When a retryable failure or an eviction was last logged (once a minute each).
    failure_logged: Option<Instant>,
    eviction_logged: Option<Instant>,
    unrepresentable_logged: Option<Instant>,
    /// Since when pushes have been failing, for the recovery message.
    failing_since: Option<Instant>,
}

/// `now + d`, saturating far in the future for absurd durations instead of panicking.
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The request being sent, kept outside the task's other work so commands (a shutdown
/// above all) are handled while it is on the wire.
struct InFlight {
    batch: Batch,
    started: Instant,
    send: Pin<Box<dyn Future<Output = SendOutcome> + Send>>,
}

/// Resolves with the in-flight request's outcome; pending while there is none.
fn landed(in_flight: &mut Option<InFlight>) -> impl Future<Output = SendOutcome> + '_ {
    std::future::poll_fn(move |cx| match in_flight {
        Some(f) => f.send.as_mut().poll(cx),
        None => Poll::Pending,
    })
}

/// What became of a request.
#[derive(Debug, PartialEq, Eq)]
enum Completion {
    Delivered,
    /// The endpoint refused push `.0`'s request for good.
    Refused(u64),
    Retrying,
}

/// At most one warning a minute per kind of trouble: an outage must not flood the logs.
const LOG_EVERY: Duration = Duration::from_secs(60);

fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

impl Task {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let interval = self.delivery.interval;
        let mut ticker = time::interval_at(after(interval), interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let collects = self.collect.is_some();
        let mut in_flight: Option<InFlight> = None;
        // A command read while coalescing flushes, handled next.
        let mut stashed: Option<Command> = None;
        loop {
            if let Some(command) = stashed.take() {
                if self
                    .handle(Some(command), &mut in_flight, &mut commands, &mut stashed)
                    .await
                {
                    return;
                }
                self.answer_waiters();
                continue;
            }
            let send_at = self.retry_at.unwrap_or_else(Instant::now);
            let next_deadline = self.waiters.iter().map(|w| w.deadline).min();
            tokio::select! {
                biased;
                command = commands.recv() => {
                    if self.handle(command, &mut in_flight, &mut commands, &mut stashed).await {
                        return;
                    }
                }
                outcome = landed(&mut in_flight) => {
                    if let Some(f) = in_flight.take() {
                        self.complete(f.batch, f.started, outcome);
                    }
                }
                _ = ticker.tick(), if collects => {
                    if let Err(e) = self.enqueue(None, false).await {
                        tracing::error!("cannot collect or encode a push: {e}");
                    }
                }
                _ = time::sleep_until(send_at), if in_flight.is_none() && !self.queue.is_empty() => {
                    in_flight = self.start_send();
                }
                _ = time::sleep_until(next_deadline.unwrap_or(send_at)), if next_deadline.is_some() => {}
            }
            self.answer_waiters();
        }
    }

    /// Handles one command (`None`: every handle is gone); returns whether the task
    /// ends. Flushes waiting behind a flush share its collection: a burst of
    /// `force_flush` calls costs one push, not one each.
    async fn handle(
        &mut self,
        command: Option<Command>,
        in_flight: &mut Option<InFlight>,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        stashed: &mut Option<Command>,
    ) -> bool {
        match command {
            Some(Command::Flush(reply)) => {
                let mut replies = vec![reply];
                while let Ok(next) = commands.try_recv() {
                    match next {
                        Command::Flush(reply) => replies.push(reply),
                        other => {
                            *stashed = Some(other);
                            break;
                        }
                    }
                }
                match self.enqueue(None, false).await {
                    Ok(push) => replies.into_iter().for_each(|r| self.wait_for(push, r)),
                    Err(e) => {
                        let message = e.to_string();
                        let mut first = Some(e);
                        for reply in replies {
                            let error =
                                first.take().unwrap_or_else(|| Error::Push(message.clone()));
                            reply.send(Err(error));
                        }
                    }
                }
                false
            }
            Some(Command::Export(snapshot, reply)) => {
                match self.enqueue(Some(*snapshot), false).await {
                    Ok(push) => self.wait_for(push, reply),
                    Err(e) => reply.send(Err(e)),
                }
                false
            }
            Some(Command::Shutdown(reply)) => {
                let result = self.finish(in_flight.take()).await;
                reply.send(result);
                true
            }
            None => {
                // Every handle on the provider was dropped without shutdown.
                if let Err(e) = self.finish(in_flight.take()).await {
                    tracing::warn!("final push after the provider was dropped: {e}");
                }
                true
            }
        }
    }

    fn wait_for(&mut self, push: u64, reply: Reply) {
        self.waiters.push(Waiter {
            push,
            reply,
            deadline: after(self.flush_wait),
            refused: None,
        });
    }

    /// Queues one push, of `given` or else of a fresh collection (if this pipeline
    /// collects); returns its number. The final push is followed by stale markers for
    /// every series it carried.
    async fn enqueue(&mut self, given: Option<Snapshot>, last: bool) -> Result<u64, Error> {
        self.pushes += 1;
        let push = self.pushes;
        let mut encoding = self
            .encoding
            .take()
            .unwrap_or_else(|| Encoding::new(self.collect.clone(), &self.delivery));
        let span = tracing::Span::current();
        let work = tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let exported = given.is_some();
            let collection = given
                .map(Collection::from)
                .or_else(|| encoding.collect.as_ref().map(|collect| collect()));
            let encoded = match collection {
                Some(Collection {
                    mut snapshot,
                    mut ending,
                }) => {
                    if exported {
                        ending = encoding.vanished_since_last_export(&snapshot);
                    } else {
                        encoding.mark_vanished(&mut snapshot);
                    }
                    encoding.encode(&mut snapshot, ending.as_mut(), push, last)
                }
                // The final push of a pipeline fed by `export`: its last export's series
                // end now.
                None if last => match encoding.last_export.take() {
                    Some(mut previous) => encoding.encode_stale(&mut previous, push),
                    None => Ok(Encoded::default()),
                },
                None => Ok(Encoded::default()),
            };
            (encoding, encoded)
        });
        let encoded = match work.await {
            Ok((encoding, batches)) => {
                self.encoding = Some(encoding);
                batches
            }
            // A panic in collection (a user callback escaping its guard, say) or in
            // encoding: this push is lost, the next one starts from fresh state.
            Err(e) => Err(Error::Encode(format!(
                "collecting or encoding panicked: {e}"
            ))),
        }?;
        let Encoded {
            batches,
            unrepresentable,
            collisions,
        } = encoded;
        self.record_collisions(collisions);
        if unrepresentable > 0 {
            self.metrics
                .dropped(unrepresentable, DropReason::Unrepresentable);
            if due(&mut self.unrepresentable_logged) {
                tracing::warn!(
                    samples = unrepresentable,
                    "values that JSON cannot carry (NaN, ±Inf) were left out of the push \
                     (counted in prompush_samples_dropped_total{{reason=\"unrepresentable\"}})"
                );
            }
        }
        for batch in batches {
            let evicted = self.queue.push(batch);
            if evicted.samples > 0 && due(&mut self.eviction_logged) {
                tracing::warn!(
                    samples = evicted.samples,
                    cap_bytes = self.delivery.max_pending_bytes,
                    "pending data over its cap: dropped the oldest requests (newer \
                     ones still carry the cumulative totals; counted in \
                     prompush_samples_dropped_total{{reason=\"queue_full\"}})"
                );
            }
            self.metrics.dropped(evicted.samples, DropReason::QueueFull);
        }
        self.metrics.pending(self.queue.samples());
        Ok(push)
    }

    /// Counts what translation merged and dropped (it warns once per family itself).
    fn record_collisions(&self, c: Collisions) {
        self.metrics.merged(c.merged_points);
        self.metrics
            .dropped(c.type_conflict_series, DropReason::TypeConflict);
        self.metrics
            .dropped(c.unmergeable_series, DropReason::Unmergeable);
    }

    /// Puts the front batch on the wire.
    fn start_send(&self) -> Option<InFlight> {
        let batch = self.queue.front()?.clone();
        let sender = self.sender.clone();
        let body = batch.body.clone();
        Some(InFlight {
            batch,
            started: Instant::now(),
            send: Box::pin(async move { sender.send(body).await }),
        })
    }

    /// Accounts for a request's outcome. The batch may have been evicted meanwhile (the
    /// cap); then it is not taken off the queue again.
    fn complete(&mut self, batch: Batch, started: Instant, outcome: SendOutcome) -> Completion {
        let seconds = started.elapsed().as_secs_f64();
        let at_front = self
            .queue
            .front()
            .is_some_and(|b| b.body.as_ptr() == batch.body.as_ptr());
        let completion = match outcome {
            SendOutcome::Success { status } => {
                self.metrics.request("2xx", seconds);
                self.metrics.sent(batch.samples, batch.body.len());
                tracing::debug!(%status, samples = batch.samples, bytes = batch.body.len(), "pushed");
                if at_front {
                    self.queue.pop();
                }
                self.backoff.reset();
                self.retry_at = None;
                self.last_failure = None;
                if let Some(since) = self.failing_since.take() {
                    tracing::info!(
                        "pushes succeed again after failing for {:?}",
                        since.elapsed()
                    );
                    self.failure_logged = None;
                }
                Completion::Delivered
            }
            SendOutcome::TooLarge(failure) if !at_front => {
                // Evicted while on the wire: already counted as dropped.
                self.metrics.request(status_class(failure.kind), seconds);
                Completion::Retrying
            }
            SendOutcome::TooLarge(failure) if self.split_front(&batch, false) => {
                self.metrics.request(status_class(failure.kind), seconds);
                tracing::debug!(
                    samples = batch.samples,
                    bytes = batch.body.len(),
                    "the endpoint found the request too large; sending it again in halves"
                );
                // The halves go after the usual backoff: a receiver that refuses every
                // size is not flooded with ever smaller requests.
                let wait = self.backoff.next(None);
                self.retry_at = Some(after(wait));
                Completion::Retrying
            }
            // One refused series costs only itself: the halves go at once (before
            // anything newer), each half that is refused again is cut again, within a
            // budget of extra requests per original request.
            SendOutcome::Permanent(failure)
                if at_front
                    && self.refusal_may_be_one_series(&failure)
                    && self.split_front(&batch, true) =>
            {
                self.metrics.request(status_class(failure.kind), seconds);
                tracing::debug!(
                    samples = batch.samples,
                    "the endpoint refused a request; sending it again in halves to find \
                     what it refuses: {failure}"
                );
                self.retry_at = None;
                Completion::Retrying
            }
            SendOutcome::Permanent(failure) | SendOutcome::TooLarge(failure) => {
                self.metrics.request(status_class(failure.kind), seconds);
                self.metrics.failed(batch.samples, false);
                self.metrics.dropped(batch.samples, DropReason::Refused);
                self.log_refusal(&failure);
                let message = failure.to_string();
                for w in self.waiters.iter_mut().filter(|w| w.push == batch.push) {
                    w.refused.get_or_insert_with(|| message.clone());
                }
                self.last_refusal = Some(message);
                if at_front {
                    self.queue.pop();
                }
                self.backoff.reset();
                self.retry_at = None;
                Completion::Refused(batch.push)
            }
            SendOutcome::Retryable(failure) => {
                self.metrics.request(status_class(failure.kind), seconds);
                self.metrics.failed(batch.samples, true);
                let wait = self.backoff.next(failure.retry_after);
                self.failing_since.get_or_insert_with(Instant::now);
                if due(&mut self.failure_logged) {
                    tracing::warn!(
                        pending_samples = self.queue.samples(),
                        "push failed, retrying with backoff (logged once a minute while it \
                         lasts): {failure}"
                    );
                } else {
                    tracing::debug!(?wait, "push failed, retrying: {failure}");
                }
                self.retry_at = Some(after(wait));
                self.last_failure = Some(failure.to_string());
                Completion::Retrying
            }
        };
        self.metrics.pending(self.queue.samples());
        completion
    }

    /// Whether a refusal may come from one bad series rather than the whole request
    /// (a wrong token, a missing route): 400 and 422 for remote write (Prometheus
    /// answers 400 for one out-of-order or duplicate sample), 400 for JSON.
    fn refusal_may_be_one_series(&self, failure: &crate::transport::Failure) -> bool {
        let FailureKind::Status(status) = failure.kind else {
            return false;
        };
        match self.delivery.protocol {
            Protocol::RemoteWrite => matches!(status.as_u16(), 400 | 422),
            Protocol::CustomMetricsJson => status.as_u16() == 400,
        }
    }

    /// Replaces the front batch (which is `batch`) with its two halves; `false` when it
    /// cannot be cut (one series or entry, or, with `budgeted`, its original request's
    /// budget of extra requests is spent).
    fn split_front(&mut self, batch: &Batch, budgeted: bool) -> bool {
        let halves = match &batch.entries {
            Some(starts) => custom_json::split_in_halves(&batch.body, starts).map(|halves| {
                let count = starts.len();
                (
                    count,
                    halves.map(|(body, samples, starts)| (body, samples, Some(starts))),
                )
            }),
            None => remote_write_halves(&batch.body).map(|(count, halves)| {
                (count, halves.map(|(body, samples)| (body, samples, None)))
            }),
        };
        let Some((count, halves)) = halves else {
            return false;
        };
        let budget = if budgeted {
            let budget = batch
                .bisect_budget
                .clone()
                .unwrap_or_else(|| Arc::new(AtomicUsize::new(bisect_budget(count))));
            // Two requests per cut.
            if budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(2)
                })
                .is_err()
            {
                return false;
            }
            Some(budget)
        } else {
            batch.bisect_budget.clone()
        };
        let half =
            |(body, samples, entries): (Bytes, usize, Option<custom_json::EntryStarts>)| Batch {
                body,
                samples,
                push: batch.push,
                entries,
                bisect_budget: budget.clone(),
            };
        let [a, b] = halves;
        self.queue.replace_front([half(a), half(b)]);
        true
    }

    fn log_refusal(&mut self, failure: &crate::transport::Failure) {
        let status = match failure.kind {
            FailureKind::Status(s) => s.as_u16(),
            _ => 0,
        };
        if due(self.refusals_logged.entry(status).or_default()) {
            tracing::warn!(
                "the endpoint refused a push, which is dropped (not retried): {failure}"
            );
        }
    }

    /// Answers the flushes whose push is through, or whose wait is over.
    fn answer_waiters(&mut self) {
        let now = Instant::now();
        let mut waiting = Vec::with_capacity(self.waiters.len());
        for mut w in self.waiters.drain(..) {
            let result = if !self.queue.holds_push_up_to(w.push) {
                match w.refused.take() {
                    Some(message) => Err(Error::Push(message)),
                    None => Ok(()),
                }
            } else if now >= w.deadline {
                Err(Error::Push(format!(
                    "not delivered yet, still retrying in the background: {}",
                    self.last_failure.as_deref().unwrap_or("no answer in time")
                )))
            } else {
                waiting.push(w);
                continue;
            };
            w.reply.send(result);
        }
        self.waiters = waiting;
    }

    /// The final push: queue it, then deliver until the queue is empty or the shutdown
    /// deadline passes. A request already on the wire counts against the deadline too.
    async fn finish(&mut self, mut in_flight: Option<InFlight>) -> Result<(), Error> {
        let deadline = after(self.delivery.shutdown_timeout);
        let push = match self.enqueue(None, true).await {
            Ok(push) => Some(push),
            Err(e) => {
                tracing::error!("cannot collect or encode the final push: {e}");
                None
            }
        };
        // The final push must not wait out a long backoff from before.
        self.retry_at = None;
        let mut refused = None;
        loop {
            let flight = match in_flight.take() {
                Some(f) => f,
                None => {
                    if self.queue.is_empty() || Instant::now() >= deadline {
                        break;
                    }
                    if let Some(at) = self.retry_at.filter(|at| *at > Instant::now()) {
                        time::sleep_until(at.min(deadline)).await;
                        continue;
                    }
                    match self.start_send() {
                        Some(f) => f,
                        None => break,
                    }
                }
            };
            let InFlight {
                batch,
                started,
                send,
            } = flight;
            // Not retried past the deadline: what is left is counted below.
            let Ok(outcome) = time::timeout_at(deadline, send).await else {
                break;
            };
            if let Completion::Refused(p) = self.complete(batch, started, outcome) {
                if Some(p) == push {
                    refused = self.last_refusal.clone();
                }
            }
            self.answer_waiters();
        }
        let undelivered = self.queue.samples();
        // Whatever is left is dropped with the task.
        while self.queue.pop().is_some() {}
        self.metrics.dropped(undelivered, DropReason::Shutdown);
        // Any flush still waiting learns the outcome now.
        for w in self.waiters.drain(..) {
            w.reply.send(Err(Error::PipelineStopped));
        }
        if undelivered > 0 {
            return Err(Error::Undelivered {
                samples: undelivered,
                timeout: self.delivery.shutdown_timeout,
                last_failure: self
                    .last_failure
                    .clone()
                    .unwrap_or_else(|| "no answer in time".to_owned()),
            });
        }
        match (push, refused) {
            (None, _) => Err(Error::Encode(
                "the final push could not be collected or encoded".to_owned(),
            )),
            (_, Some(message)) => Err(Error::Push(format!(
                "the final push was refused: {message}"
            ))),
            _ => Ok(()),
        }
    }
}

impl Encoding {
    fn new(collect: Option<Collector>, delivery: &Delivery) -> Self {
        let format = match delivery.protocol {
            Protocol::RemoteWrite => Format::RemoteWrite {
                encoder: WriteRequestEncoder::new(),
                snappy: snap::raw::Encoder::new(),
                scratch: Vec::new(),
            },
            Protocol::CustomMetricsJson => Format::CustomMetricsJson(CustomMetricsEncoder::new()),
        };
        let mut translator = Translator::with_external_labels(delivery.external_labels.clone());
        translator.set_target_info(delivery.target_info);
        translator.set_scope_labels(delivery.scope_labels);
        Encoding {
            translator,
            format,
            collect,
            max_samples_per_send: delivery.max_samples_per_send,
            max_body_bytes: delivery.max_body_bytes,
            observed: HashMap::new(),
            last_export: None,
            clock: PushClock::new(),
        }
    }

    /// Keeps `current` as the last export and returns the points of the previous one
    /// that it lacks (whole instruments or attribute sets), if any.
    fn vanished_since_last_export(&mut self, current: &Snapshot) -> Option<Snapshot> {
        let previous = self.last_export.replace(current.clone())?;
        let now: HashMap<u64, &MetricSnapshot> =
            current.metrics().map(|m| (m.descriptor.id, m)).collect();
        let mut scopes = Vec::new();
        for scope in previous.scopes {
            let mut metrics = Vec::new();
            for mut metric in scope.metrics {
                let kept: HashSet<&Attributes> = match now.get(&metric.descriptor.id) {
                    Some(m) => match &m.data {
                        MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
                            points.iter().map(|p| &p.attributes).collect()
                        }
                        MetricData::Histogram { points, .. } => {
                            points.iter().map(|p| &p.attributes).collect()
                        }
                    },
                    None => HashSet::new(),
                };
                match &mut metric.data {
                    MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
                        points.retain(|p| !kept.contains(&p.attributes))
                    }
                    MetricData::Histogram { points, .. } => {
                        points.retain(|p| !kept.contains(&p.attributes))
                    }
                }
                if !metric.data.is_empty() {
                    metrics.push(metric);
                }
            }
            if !metrics.is_empty() {
                scopes.push(ScopeSnapshot {
                    scope: scope.scope,
                    metrics,
                });
            }
        }
        (!scopes.is_empty()).then_some(Snapshot {
            resource: previous.resource,
            time: previous.time,
            scopes,
        })
    }

    /// Adds a stale-marker point for every attribute set an observable instrument
    /// reported in the previous push but not in this one: the receiver then ends the
    /// series at once instead of showing its last value for minutes. Synchronous
    /// instruments keep their series for good (cumulative), so only observables can
    /// lose one.
    fn mark_vanished(&mut self, snapshot: &mut Snapshot) {
        for metric in snapshot
            .scopes
            .iter_mut()
            .flat_map(|s| s.metrics.iter_mut())
        {
            if !metric.descriptor.kind.is_observable() {
                continue;
            }
            let points = match &mut metric.data {
                MetricData::Sum { points, .. } | MetricData::Gauge { points } => points,
                MetricData::Histogram { .. } => continue,
            };
            let current: HashSet<Attributes> =
                points.iter().map(|p| p.attributes.clone()).collect();
            if let Some(previous) = self.observed.get(&metric.descriptor.id) {
                for attributes in previous.difference(&current) {
                    points.push(NumberPoint {
                        attributes: attributes.clone(),
                        value: Number::stale(),
                    });
                }
            }
            self.observed.insert(metric.descriptor.id, current);
        }
    }

    /// Translates a snapshot into requests of at most `max_samples_per_send` samples;
    /// with `last`, stale markers for all its series follow (remote write only), so the
    /// receiver ends them now rather than showing their last values for minutes. The
    /// series of `ending` get stale markers first. Every part gets a time of its own
    /// from the destination's clock, strictly after the previous one.
    fn encode(
        &mut self,
        snapshot: &mut Snapshot,
        ending: Option<&mut Snapshot>,
        push: u64,
        last: bool,
    ) -> Result<Encoded, Error> {
        let mut batches = Vec::new();
        let max_samples = self.max_samples_per_send;
        match &mut self.format {
            Format::RemoteWrite {
                encoder,
                snappy,
                scratch,
            } => {
                let translator = &mut self.translator;
                // Ending series first, before this push's values: a series that comes
                // back (a custom metric deleted and created again) starts afresh after
                // its marker.
                if let Some(ending) = ending {
                    stamp(ending, self.clock.next());
                    let to = (&mut batches, push, max_samples);
                    stale_markers_into(translator, ending, to, snappy, scratch)?;
                }
                stamp(snapshot, self.clock.next());
                encoder.clear();
                if translator.translate(snapshot, encoder) > 0 {
                    compress_into(&mut batches, push, encoder, max_samples, snappy, scratch)?;
                }
                let collisions = translator.collisions();
                if last {
                    stamp(snapshot, self.clock.next());
                    let to = (&mut batches, push, max_samples);
                    stale_markers_into(translator, snapshot, to, snappy, scratch)?;
                }
                Ok(Encoded {
                    batches,
                    unrepresentable: 0,
                    collisions,
                })
            }
            Format::CustomMetricsJson(encoder) => {
                stamp(snapshot, self.clock.next());
                encoder.clear();
                self.translator.translate(snapshot, encoder);
                encoder.bodies(self.max_body_bytes, max_samples, |body, samples, starts| {
                    batches.push(Batch::new(body, samples, push, Some(starts)));
                    Ok::<_, Error>(())
                })?;
                Ok(Encoded {
                    batches,
                    unrepresentable: encoder.unrepresentable(),
                    collisions: self.translator.collisions(),
                })
            }
        }
    }

    /// Stale markers for every series of `of` (remote write only).
    fn encode_stale(&mut self, of: &mut Snapshot, push: u64) -> Result<Encoded, Error> {
        let mut batches = Vec::new();
        if let Format::RemoteWrite {
            snappy, scratch, ..
        } = &mut self.format
        {
            stamp(of, self.clock.next());
            let to = (&mut batches, push, self.max_samples_per_send);
            stale_markers_into(&mut self.translator, of, to, snappy, scratch)?;
        }
        Ok(Encoded {
            batches,
            ..Encoded::default()
        })
    }
}

/// Gives the snapshot and every metric in it the push time `ms`.
fn stamp(snapshot: &mut Snapshot, ms: i64) {
    let time = clock::time_of(ms);
    snapshot.time = time;
    for metric in snapshot
        .scopes
        .iter_mut()
        .flat_map(|s| s.metrics.iter_mut())
    {
        metric.time = time;
    }
}

/// Appends requests with a stale marker for every series of `of` to `to.0` (push
/// `to.1`, at most `to.2` samples each). A fresh encoder: the markers must not disturb
/// the per-series caches, which hold the values' labels for the next push.
fn stale_markers_into(
    translator: &mut Translator,
    of: &Snapshot,
    to: (&mut Vec<Batch>, u64, usize),
    snappy: &mut snap::raw::Encoder,
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    let (batches, push, max_samples) = to;
    let mut markers = WriteRequestEncoder::new();
    if translator.translate(of, &mut StaleMarkers(&mut markers)) > 0 {
        compress_into(batches, push, &mut markers, max_samples, snappy, scratch)?;
    }
    Ok(())
}

/// Splits what `encoder` holds into snappy-compressed requests of at most
/// `max_samples` samples.
fn compress_into(
    batches: &mut Vec<Batch>,
    push: u64,
    encoder: &mut WriteRequestEncoder,
    max_samples: usize,
    snappy: &mut snap::raw::Encoder,
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    batch::split(encoder.protobuf(), max_samples, |protobuf, samples| {
        scratch.resize(snap::raw::max_compress_len(protobuf.len()), 0);
        let n = snappy
            .compress(protobuf, scratch)
            .map_err(|e| Error::Encode(e.to_string()))?;
        batches.push(Batch::new(
            Bytes::copy_from_slice(&scratch[..n]),
            samples,
            push,
            None,
        ));
        Ok(())
    })
}

/// Turns every series into its stale marker, at the snapshot's time (the caller stamps
/// it after the values it ends: a series cannot have two samples at one timestamp).
/// Writes no metadata, and reuses no cached series: the encoder's caches hold values'
/// labels for the next push.
struct StaleMarkers<'a>(&'a mut WriteRequestEncoder);

impl SeriesSink for StaleMarkers<'_> {
    fn metadata(&mut self, _: &Metadata<'_>) {}

    fn series(&mut self, labels: &Labels<'_>, _: f64, timestamp_ms: i64) {
        self.0
            .series(labels, f64::from_bits(STALE_NAN_BITS), timestamp_ms);
    }
}

/// The extra requests one refused request may cost while it is cut in halves: enough to
/// isolate a few bad series among `series` (about 2·log2(n) requests each), bounded
/// when the receiver refuses everything.
fn bisect_budget(series: usize) -> usize {
    let log2 = usize::BITS - series.max(1).leading_zeros();
    4 * log2 as usize + 8
}

/// Cuts a compressed remote-write request into two compressed halves: the number of
/// series and the halves with their samples; `None` when it has fewer than two series
/// (or, which never happens for prompush's own requests, does not decode).
fn remote_write_halves(body: &[u8]) -> Option<(usize, [(Bytes, usize); 2])> {
    let protobuf = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    let (count, halves) = batch::halves(&protobuf).ok()?;
    let mut snappy = snap::raw::Encoder::new();
    let [a, b] = halves?;
    let mut compress = |(protobuf, samples): (Vec<u8>, usize)| {
        snappy
            .compress_vec(&protobuf)
            .ok()
            .map(|body| (Bytes::from(body), samples))
    };
    Some((count, [compress(a)?, compress(b)?]))
}

fn status_class(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Status(s) if s.is_client_error() => "4xx",
        FailureKind::Status(s) if s.is_server_error() => "5xx",
        FailureKind::Status(_) => "other",
        _ => "error",
    }
}
