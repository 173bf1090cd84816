//! The push task of one destination: its loop over commands, ticks, sends and
//! deadlines; queuing pushes; answering flushes; the final push at shutdown.
//!
//! Up to one request per shard is on the wire at a time, all polled together; one
//! backoff holds every shard back after a retryable failure, as it is the endpoint
//! that is failing. A push that finds an older one's requests still waiting drops
//! them (its cumulative values carry every total), keeping their stale markers.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{self, Instant, MissedTickBehavior};

use super::backoff::Backoff;
use super::clock::PushClock;
use super::collect_and_encode::{Encoded, Encoding};
use super::command::{AnswerTo, Command, Waiter};
use super::deliver::{Deliver, Sending};
use super::fallback::StderrFallback;
use super::outcome::{Answering, Completion, WrittenLogged};
use super::queue::{Batch, Queue};
use super::self_metrics::{DropReason, SelfMetrics};
use super::shards::{ShardPlan, Sizing};
use super::timing::{after, due};
use super::wire;
use super::{CollectFn, Delivery};
use crate::prometheus::translate::Collisions;
use crate::transport::SendOutcome;
use crate::{Error, Snapshot};

pub(super) struct Task {
    pub(super) delivery: Delivery,
    pub(super) sender: Arc<dyn Deliver>,
    /// `None` only while a blocking thread has it.
    pub(super) encoding: Option<Encoding>,
    /// Kept to rebuild `encoding` should collection or encoding ever panic.
    pub(super) collect: Option<CollectFn>,
    pub(super) metrics: SelfMetrics,
    pub(super) queue: Queue,
    /// The requests on the wire, at most one per shard.
    pub(super) sending: Vec<InFlight>,
    pub(super) sizing: Sizing,
    /// Whether a newer push drops an older one's waiting values (remote write, whose
    /// values are cumulative and timestamped; JSON pushes stay one shard, in order).
    pub(super) supersedes: bool,
    /// When each push with requests still waiting was collected, oldest first.
    pub(super) collected: VecDeque<(u64, Instant)>,
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
    pub(super) written_logged: WrittenLogged,
    /// When a retryable failure or an eviction was last logged (once a minute each).
    pub(super) failure_logged: Option<Instant>,
    pub(super) eviction_logged: Option<Instant>,
    pub(super) superseded_logged: Option<Instant>,
    pub(super) unrepresentable_logged: Option<Instant>,
    /// Since when pushes have been failing, for the recovery message.
    pub(super) failing_since: Option<Instant>,
    /// Failures said on stderr when no subscriber would show them.
    pub(super) fallback: StderrFallback,
    /// The destination's push timestamps; see [`Encoding::clock`].
    pub(super) clock: Arc<crate::sync::Mutex<PushClock>>,
}

/// The request being sent, kept outside the task's other work so commands (a shutdown
/// above all) are handled while it is on the wire.
pub(super) struct InFlight {
    batch: Batch,
    started: Instant,
    send: Sending,
}

/// Resolves with the first request on the wire to land (its index in `sending`) and
/// its outcome; pending while there is none.
fn landed(sending: &mut [InFlight]) -> impl Future<Output = (usize, SendOutcome)> + '_ {
    std::future::poll_fn(move |cx| {
        for (i, f) in sending.iter_mut().enumerate() {
            if let Poll::Ready(outcome) = f.send.as_mut().poll(cx) {
                return Poll::Ready((i, outcome));
            }
        }
        Poll::Pending
    })
}

impl Task {
    pub(super) fn new(
        sender: Arc<dyn Deliver>,
        delivery: Delivery,
        collect: Option<CollectFn>,
        metrics: SelfMetrics,
        flush_wait: Duration,
    ) -> Self {
        let clock = Arc::new(crate::sync::Mutex::new(PushClock::new()));
        let supersedes = delivery.protocol.is_remote_write();
        let max_shards = if supersedes { delivery.max_shards } else { 1 };
        Task {
            backoff: Backoff::new(*delivery.backoff.start(), *delivery.backoff.end()),
            queue: Queue::new(delivery.max_pending_bytes),
            sending: Vec::new(),
            sizing: Sizing::new(max_shards, delivery.interval),
            supersedes,
            fallback: StderrFallback::new(delivery.stderr_fallback),
            collected: VecDeque::new(),
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
            written_logged: WrittenLogged::default(),
            failure_logged: None,
            eviction_logged: None,
            superseded_logged: None,
            unrepresentable_logged: None,
            failing_since: None,
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let interval = self.delivery.interval;
        let mut ticker = time::interval_at(after(interval), interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let collects = self.collect.is_some();
        // A command read while coalescing flushes, handled next.
        let mut stashed: Option<Command> = None;
        loop {
            if let Some(command) = stashed.take() {
                if self
                    .handle(Some(command), &mut commands, &mut stashed)
                    .await
                {
                    return;
                }
                self.answer_waiters();
                continue;
            }
            // Sends start here rather than in a branch below: a push that takes longer
            // to collect than the interval keeps the ticker ready, and must not keep
            // the requests from going out.
            let now = Instant::now();
            let backing_off = self.retry_at.filter(|at| *at > now);
            if backing_off.is_none() {
                self.start_sends();
            }
            let send_at = backing_off.unwrap_or(now);
            let next_deadline = self.waiters.iter().map(|w| w.deadline).min();
            let may_start = backing_off.is_some() && self.may_start();
            tokio::select! {
                biased;
                command = commands.recv() => {
                    if self.handle(command, &mut commands, &mut stashed).await {
                        return;
                    }
                }
                (i, outcome) = landed(&mut self.sending) => {
                    self.land(i, outcome);
                }
                // The backoff is over: the loop starts the sends.
                _ = time::sleep_until(send_at), if may_start => {}
                _ = ticker.tick(), if collects => {
                    if let Err(e) = self.enqueue(None, false).await {
                        tracing::error!("cannot collect or encode a push: {e}");
                    }
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
                let result = self.finish().await;
                reply.send(result);
                true
            }
            None => {
                // Every handle on the provider was dropped without shutdown.
                if let Err(e) = self.finish().await {
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
        let collected_at = Instant::now();
        let plan = self.shard_plan();
        let mut encoding = self.encoding.take().unwrap_or_else(|| {
            Encoding::new(self.collect.clone(), &self.delivery, self.clock.clone())
        });
        let span = tracing::Span::current();
        let work = tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let encoded = match given {
                Some(snapshot) => encoding.encode_export(snapshot, push, plan),
                None => encoding.encode_collection(push, plan, last),
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
            shards,
        } = encoded;
        self.record_collisions(collisions);
        self.sizing.pushed(shards, batches.len());
        self.metrics.shards(self.sizing.current());
        if self.supersedes && batches.iter().any(|b| !b.markers) {
            self.supersede(push);
        }
        if !batches.is_empty() {
            self.collected.push_back((push, collected_at));
        }
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
        self.record_lag();
        Ok(push)
    }

    /// The shard plan of the next push: resharding only when no older request waits
    /// but those on the wire (which the queue keeps the new cut behind) and the values
    /// the new push supersedes.
    fn shard_plan(&self) -> ShardPlan {
        if !self.supersedes {
            return ShardPlan::ONE;
        }
        let may_reshard = !self.queue.holds_unsent_markers(|b| self.is_sending(b));
        self.sizing.plan(may_reshard)
    }

    fn is_sending(&self, batch: &Batch) -> bool {
        self.sending
            .iter()
            .any(|f| f.batch.body.as_ptr() == batch.body.as_ptr())
    }

    /// Drops the values of older pushes that are not on the wire yet: push `push`
    /// carries their totals. Their flushes now wait for `push`.
    fn supersede(&mut self, push: u64) {
        let on_wire: Vec<*const u8> = self.sending.iter().map(|f| f.batch.body.as_ptr()).collect();
        let (dropped, pushes) = self
            .queue
            .supersede(push, |b| on_wire.contains(&b.body.as_ptr()));
        if dropped.samples == 0 {
            return;
        }
        for w in self.waiters.iter_mut().filter(|w| pushes.contains(&w.push)) {
            w.push = push;
        }
        self.metrics
            .dropped(dropped.samples, DropReason::Superseded);
        if due(&mut self.superseded_logged) {
            tracing::warn!(
                samples = dropped.samples,
                shards = self.sizing.current(),
                "a push was not delivered before the next one: dropped its waiting \
                 requests, the newer push carries every total (counted in \
                 prompush_samples_dropped_total{{reason=\"superseded\"}}); the endpoint \
                 is slow or failing"
            );
        }
    }

    /// Records how long ago the oldest push still waiting was collected (0 when
    /// everything is delivered).
    fn record_lag(&mut self) {
        let oldest = self.queue.oldest_push();
        while self
            .collected
            .front()
            .is_some_and(|(p, _)| oldest.is_none_or(|o| *p < o))
        {
            self.collected.pop_front();
        }
        let lag = self.collected.front().map(|(_, at)| at.elapsed());
        self.metrics.lag(lag.unwrap_or_default());
    }

    /// Counts what translation merged and dropped (it warns once per family itself).
    fn record_collisions(&self, c: Collisions) {
        self.metrics.merged(c.merged_points);
        self.metrics
            .dropped(c.type_conflict_series, DropReason::TypeConflict);
        self.metrics
            .dropped(c.unmergeable_series, DropReason::Unmergeable);
    }

    /// The front batch of each lane that may go on the wire now: its lane has nothing
    /// on the wire, and no older push cut for another shard count is still waiting
    /// (its requests may hold the same series, in other lanes).
    fn startable(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.queue.lanes()).filter(|&lane| {
            let Some(batch) = self.queue.front(lane) else {
                return false;
            };
            !self.sending.iter().any(|f| {
                f.batch.shard.index == lane
                    || (f.batch.push < batch.push && f.batch.shard.of != batch.shard.of)
            }) && !self.queue.behind_other_cut(batch)
        })
    }

    fn may_start(&self) -> bool {
        self.startable().next().is_some()
    }

    /// Puts every startable front batch on the wire.
    fn start_sends(&mut self) {
        let lanes: Vec<usize> = self.startable().collect();
        for lane in lanes {
            let Some(mut batch) = self.queue.front(lane).cloned() else {
                continue;
            };
            if batch.v2.is_some() && self.delivery.series.fallen_back.load(Ordering::Relaxed) {
                // The receiver takes only 1.0: a queued 2.0 request goes as 1.0.
                if let Some(v1) = wire::as_v1(&batch) {
                    batch = Batch {
                        body: v1.body,
                        samples: v1.samples,
                        v2: None,
                        ..batch
                    };
                    self.queue.replace_front(lane, [batch.clone()]);
                }
            }
            let protocol = wire::body_protocol(self.delivery.protocol, &batch);
            let send = self.sender.send(batch.body.clone(), protocol);
            self.sending.push(InFlight {
                batch,
                started: Instant::now(),
                send,
            });
        }
    }

    /// Accounts for the outcome of request `i` on the wire.
    /// The parts of the task an answer changes.
    fn answering(&mut self) -> Answering<'_> {
        Answering {
            delivery: &self.delivery,
            metrics: &self.metrics,
            queue: &mut self.queue,
            sizing: &mut self.sizing,
            waiters: &mut self.waiters,
            backoff: &mut self.backoff,
            retry_at: &mut self.retry_at,
            last_failure: &mut self.last_failure,
            last_refusal: &mut self.last_refusal,
            refusals_logged: &mut self.refusals_logged,
            written_logged: &mut self.written_logged,
            failure_logged: &mut self.failure_logged,
            fallback: &mut self.fallback,
            failing_since: &mut self.failing_since,
        }
    }

    fn land(&mut self, i: usize, outcome: SendOutcome) -> Completion {
        let InFlight { batch, started, .. } = self.sending.swap_remove(i);
        let completion = self.answering().complete(batch, started, outcome);
        self.record_lag();
        completion
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
    /// deadline passes. Requests already on the wire count against the deadline too.
    async fn finish(&mut self) -> Result<(), Error> {
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
            let now = Instant::now();
            let backing_off = self.retry_at.filter(|at| *at > now);
            if backing_off.is_none() {
                self.start_sends();
            }
            if now >= deadline || (self.sending.is_empty() && backing_off.is_none()) {
                break;
            }
            let wake = backing_off.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                (i, outcome) = landed(&mut self.sending) => {
                    // Not retried past the deadline: what is left is counted below.
                    if let Completion::Refused(p) = self.land(i, outcome) {
                        if Some(p) == push {
                            refused = self.last_refusal.clone();
                        }
                    }
                    self.answer_waiters();
                }
                _ = time::sleep_until(wake) => {}
            }
        }
        self.sending.clear();
        // Whatever is left is dropped with the task.
        let undelivered = self.queue.clear();
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
