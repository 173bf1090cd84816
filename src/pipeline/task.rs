//! The push task of one destination: its loop over commands, ticks, sends and
//! deadlines; queuing pushes; answering flushes; the final push at shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{self, Instant, MissedTickBehavior};

use super::backoff::Backoff;
use super::clock::PushClock;
use super::deliver::{Deliver, Sending};
use super::encoding::{Encoded, Encoding};
use super::handle::{AnswerTo, Command};
use super::queue::{Batch, Queue};
use super::self_metrics::{DropReason, SelfMetrics};
use super::{CollectFn, Delivery};
use crate::prometheus::translate::Collisions;
use crate::transport::SendOutcome;
use crate::{Error, Snapshot};

/// A `force_flush` caller waiting for its push to get through.
pub(super) struct Waiter {
    pub(super) push: u64,
    pub(super) reply: AnswerTo,
    pub(super) deadline: Instant,
    /// Set when the endpoint refused part of this push.
    pub(super) refused: Option<String>,
}

pub(super) struct Task {
    pub(super) delivery: Delivery,
    pub(super) sender: Arc<dyn Deliver>,
    /// `None` only while a blocking thread has it.
    pub(super) encoding: Option<Encoding>,
    /// Kept to rebuild `encoding` should collection or encoding ever panic.
    pub(super) collect: Option<CollectFn>,
    pub(super) metrics: SelfMetrics,
    pub(super) queue: Queue,
    pub(super) backoff: Backoff,
    /// Pushes enqueued so far; batches carry their push's number.
    pub(super) pushes: u64,
    /// When the front batch may be tried again after a retryable failure.
    pub(super) retry_at: Option<Instant>,
    pub(super) last_failure: Option<String>,
    /// The last refusal's message (for the final push's result).
    pub(super) last_refusal: Option<String>,
    pub(super) waiters: Vec<Waiter>,
    pub(super) flush_wait: Duration,
    /// Refusals are logged once per status per minute.
    pub(super) refusals_logged: HashMap<u16, Option<Instant>>,
    /// When a retryable failure or an eviction was last logged (once a minute each).
    pub(super) failure_logged: Option<Instant>,
    pub(super) eviction_logged: Option<Instant>,
    pub(super) unrepresentable_logged: Option<Instant>,
    /// Since when pushes have been failing, for the recovery message.
    pub(super) failing_since: Option<Instant>,
    /// The destination's push timestamps; see [`Encoding::clock`].
    pub(super) clock: Arc<parking_lot::Mutex<PushClock>>,
}

/// `now + d`, saturating far in the future for absurd durations instead of panicking.
pub(super) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The request being sent, kept outside the task's other work so commands (a shutdown
/// above all) are handled while it is on the wire.
pub(super) struct InFlight {
    batch: Batch,
    started: Instant,
    send: Sending,
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
pub(super) enum Completion {
    Delivered,
    /// The endpoint refused push `.0`'s request for good.
    Refused(u64),
    Retrying,
}

/// At most one warning a minute per kind of trouble: an outage must not flood the logs.
const LOG_EVERY: Duration = Duration::from_secs(60);

pub(super) fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

impl Task {
    pub(super) fn new(
        sender: Arc<dyn Deliver>,
        delivery: Delivery,
        collect: Option<CollectFn>,
        metrics: SelfMetrics,
        flush_wait: Duration,
    ) -> Self {
        let clock = Arc::new(parking_lot::Mutex::new(PushClock::new()));
        Task {
            backoff: Backoff::new(*delivery.backoff.start(), *delivery.backoff.end()),
            queue: Queue::new(delivery.max_pending_bytes),
            encoding: Some(Encoding::new(collect.clone(), &delivery, clock.clone())),
            clock,
            delivery,
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
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
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

    fn wait_for(&mut self, push: u64, reply: AnswerTo) {
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
        let mut encoding = self.encoding.take().unwrap_or_else(|| {
            Encoding::new(self.collect.clone(), &self.delivery, self.clock.clone())
        });
        let span = tracing::Span::current();
        let work = tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let encoded = match given {
                Some(snapshot) => encoding.encode_export(snapshot, push),
                None => encoding.encode_collection(push, last),
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
        let send = self.sender.send(batch.body.clone());
        Some(InFlight {
            batch,
            started: Instant::now(),
            send,
        })
    }

    /// Accounts for a request's outcome. The batch may have been evicted meanwhile (the
    /// cap); then it is not taken off the queue again.
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
