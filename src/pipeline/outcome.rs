//! What an answer does: a delivered request leaves the queue, a retryable failure
//! waits its backoff, a request that is too large or refused for one series is cut in
//! halves, and what is refused for good is dropped, counted and logged. A remote-write
//! 2.0 request answered by a receiver that takes only 1.0 (a `415`, or a `2xx` without
//! the written-count headers) stays at the front of its shard and turns the destination
//! to 1.0 for good: the task sends it again as 1.0 before anything newer (see `task`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::time::Instant;

use super::backoff::Backoff;
use super::command::Waiter;
use super::fallback::StderrFallback;
use super::queue::{Batch, Queue};
use super::self_metrics::{DropReason, SelfMetrics};
use super::shards::Sizing;
use super::timing::{after, due};
use super::wire::{self, HalfRequest};
use super::Delivery;
use crate::prometheus::write_request_v2::Carried;
use crate::transport::{FailureKind, SendOutcome, Written};

/// What became of a request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Completion {
    Delivered,
    /// The endpoint refused push `.0`'s request for good.
    Refused(u64),
    Retrying,
}

/// The parts of a push task an answer changes, borrowed for one answer.
pub(super) struct Answering<'a> {
    pub(super) delivery: &'a Delivery,
    pub(super) metrics: &'a SelfMetrics,
    pub(super) queue: &'a mut Queue,
    pub(super) sizing: &'a mut Sizing,
    pub(super) waiters: &'a mut [Waiter],
    pub(super) backoff: &'a mut Backoff,
    /// When the front batch may be tried again after a retryable failure.
    pub(super) retry_at: &'a mut Option<Instant>,
    pub(super) last_failure: &'a mut Option<String>,
    pub(super) last_refusal: &'a mut Option<String>,
    /// Refusals are logged once per status per minute.
    pub(super) refusals_logged: &'a mut HashMap<u16, Option<Instant>>,
    pub(super) failure_logged: &'a mut Option<Instant>,
    /// The stderr line a failure writes where no subscriber would show it.
    pub(super) fallback: &'a mut StderrFallback,
    /// Since when pushes have been failing, for the recovery message.
    pub(super) failing_since: &'a mut Option<Instant>,
    /// What remote write 2.0's written counts have logged.
    pub(super) written_logged: &'a mut WrittenLogged,
}

/// The log lines of remote write 2.0's written counts: exemplars not stored once, a
/// short count once a minute.
#[derive(Debug, Default)]
pub(super) struct WrittenLogged {
    exemplars: bool,
    short: Option<Instant>,
}

impl Answering<'_> {
    pub(super) fn complete(
        &mut self,
        batch: Batch,
        started: Instant,
        outcome: SendOutcome,
    ) -> Completion {
        let took = started.elapsed();
        let seconds = took.as_secs_f64();
        let lane = batch.shard.index;
        let at_front = self
            .queue
            .front(lane)
            .is_some_and(|b| b.body.as_ptr() == batch.body.as_ptr());
        if let Some(carried) = batch.v2 {
            match &outcome {
                SendOutcome::Success { written: None, .. } => {
                    self.metrics.request("2xx", seconds);
                    return self.fall_back("answered 2xx without the written-count headers");
                }
                SendOutcome::Permanent(failure)
                    if failure.kind == FailureKind::Status(UNSUPPORTED_MEDIA_TYPE) =>
                {
                    self.metrics.request("4xx", seconds);
                    return self.fall_back("answered 415 Unsupported Media Type");
                }
                SendOutcome::Success {
                    written: Some(written),
                    ..
                } => self.check_written(carried, *written),
                _ => {}
            }
        }
        let completion = match outcome {
            SendOutcome::Success { status, .. } => {
                self.metrics.request("2xx", seconds);
                self.metrics.sent(batch.samples, batch.body.len());
                tracing::debug!(%status, samples = batch.samples, bytes = batch.body.len(), "pushed");
                if at_front {
                    self.queue.pop(lane);
                }
                self.sizing.sent(took);
                // `retry_at` stays: another shard's failure may have set it.
                self.backoff.reset();
                *self.last_failure = None;
                if let Some(since) = self.failing_since.take() {
                    tracing::info!(
                        "pushes succeed again after failing for {:?}",
                        since.elapsed()
                    );
                    *self.failure_logged = None;
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
                *self.retry_at = Some(after(wait));
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
                Completion::Retrying
            }
            SendOutcome::Permanent(failure) | SendOutcome::TooLarge(failure) => {
                self.metrics.request(status_class(failure.kind), seconds);
                self.metrics.failed(batch.samples, false);
                self.metrics.dropped(batch.samples, DropReason::Refused);
                self.log_refusal(&failure);
                self.fallback.failing(&self.delivery.name, &failure, true);
                let message = failure.to_string();
                for w in self.waiters.iter_mut().filter(|w| w.push == batch.push) {
                    w.refused.get_or_insert_with(|| message.clone());
                }
                *self.last_refusal = Some(message);
                if at_front {
                    self.queue.pop(lane);
                }
                self.backoff.reset();
                Completion::Refused(batch.push)
            }
            SendOutcome::Retryable(failure)
                if at_front && self.classic_instead(&batch, &failure) =>
            {
                self.metrics.request(status_class(failure.kind), seconds);
                *self.retry_at = None;
                Completion::Retrying
            }
            SendOutcome::Retryable(failure) => {
                self.metrics.request(status_class(failure.kind), seconds);
                self.metrics.failed(batch.samples, true);
                let wait = self.backoff.next(failure.retry_after);
                self.failing_since.get_or_insert_with(Instant::now);
                self.fallback.failing(&self.delivery.name, &failure, false);
                if due(self.failure_logged) {
                    tracing::warn!(
                        pending_samples = self.queue.samples(),
                        "push failed, retrying with backoff (logged once a minute while it \
                         lasts): {failure}"
                    );
                } else {
                    tracing::debug!(?wait, "push failed, retrying: {failure}");
                }
                *self.retry_at = Some(after(wait));
                *self.last_failure = Some(failure.to_string());
                Completion::Retrying
            }
        };
        self.metrics.pending(self.queue.samples());
        completion
    }

    /// The receiver takes only remote write 1.0 (`why` says how it showed it): turns
    /// the destination to 1.0 for good and says so once. The request stays at the
    /// front of its shard, and so do those on the other shards that get the same
    /// answer: the task sends each again as 1.0 before anything newer (it turns every
    /// queued 2.0 request into 1.0 before sending it).
    fn fall_back(&mut self, why: &str) -> Completion {
        if !self
            .delivery
            .series
            .fallen_back
            .swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                destination = %self.delivery.name,
                "the endpoint {why} to a remote-write 2.0 request: it takes only remote \
                 write 1.0. This destination now sends 1.0 (without start timestamps and \
                 with metadata per family), starting with what 2.0 requests carried, and \
                 stays on 1.0 until the provider is rebuilt. Use Destination::remote_write \
                 for this endpoint"
            );
        }
        *self.retry_at = None;
        self.metrics.pending(self.queue.samples());
        Completion::Retrying
    }

    /// Counts what a 2.0 receiver says it wrote, and what it did not write of
    /// `carried`: fewer samples or histograms are dropped (counted and logged, never
    /// sent again: the others are stored), exemplars not stored are counted and said
    /// once (exemplar storage is off at the receiver).
    fn check_written(&mut self, carried: Carried, written: Written) {
        let kinds = [
            ("samples", written.samples, carried.samples),
            ("histograms", written.histograms, carried.histograms),
            ("exemplars", written.exemplars, carried.exemplars),
        ];
        for (kind, count, _) in kinds {
            if let Some(count) = count {
                self.metrics.written(kind, count);
            }
        }
        let short = |count: Option<u64>, sent: usize| {
            count.map_or(0, |c| {
                sent.saturating_sub(usize::try_from(c).unwrap_or(usize::MAX))
            })
        };
        let values =
            short(written.samples, carried.samples) + short(written.histograms, carried.histograms);
        if values > 0 {
            self.metrics.dropped(values, DropReason::NotWritten);
            if due(&mut self.written_logged.short) {
                tracing::warn!(
                    destination = %self.delivery.name,
                    sent_samples = carried.samples,
                    written_samples = ?written.samples,
                    sent_histograms = carried.histograms,
                    written_histograms = ?written.histograms,
                    "the endpoint accepted a push but wrote {values} fewer samples than sent \
                     (not retried: the rest are stored; logged once a minute while it lasts)"
                );
            }
        }
        let exemplars = short(written.exemplars, carried.exemplars);
        if exemplars > 0 {
            self.metrics.exemplars_not_written(exemplars);
            if !std::mem::replace(&mut self.written_logged.exemplars, true) {
                tracing::warn!(
                    destination = %self.delivery.name,
                    "the endpoint stores no exemplars ({} of {} written); counted in \
                     prompush_exemplars_not_written_total and said once. Prometheus stores them \
                     with --enable-feature=exemplar-storage",
                    carried.exemplars - exemplars,
                    carried.exemplars
                );
            }
        }
    }

    /// Whether a refusal may come from one bad series rather than the whole request,
    /// as the destination's protocol reads its answers.
    fn refusal_may_be_one_series(&self, failure: &crate::transport::Failure) -> bool {
        match failure.kind {
            FailureKind::Status(status) => {
                wire::refusals(self.delivery.protocol).may_be_one_series(status.as_u16())
            }
            _ => false,
        }
    }

    /// When the receiver refused native histograms (Prometheus without its feature
    /// flag rolls back the whole request): turns them off for this destination, says
    /// so once, and replaces the front batch (`batch`) with the same series, its native
    /// histograms as classic ones, to go at once. `false` for any other answer.
    fn classic_instead(&mut self, batch: &Batch, failure: &crate::transport::Failure) -> bool {
        let FailureKind::Status(status) = failure.kind else {
            return false;
        };
        let Some(classic) = wire::classic_instead(
            self.delivery.protocol,
            batch,
            status.as_u16(),
            &failure.detail,
        ) else {
            return false;
        };
        if self
            .delivery
            .series
            .native_histograms
            .swap(false, Ordering::Relaxed)
        {
            tracing::error!(
                destination = %self.delivery.name,
                "the endpoint refused native histograms (Prometheus answers so without \
                 --enable-feature=native-histograms): this destination now sends exponential \
                 histograms as classic _bucket series, and sends this push again that way. \
                 Start Prometheus with --enable-feature=native-histograms, or leave \
                 with_native_histograms off for it"
            );
        }
        // The same series, so the same shard (classic series of a later push may hash to
        // another one; this resend goes at once, long before that push).
        let resend = Batch {
            body: classic.body,
            samples: classic.samples,
            push: batch.push,
            cuts: None,
            bisect_budget: batch.bisect_budget.clone(),
            shard: batch.shard,
            markers: batch.markers,
            v2: classic.v2,
        };
        self.queue.replace_front(batch.shard.index, [resend]);
        true
    }

    /// Replaces the front batch (which is `batch`) with its two halves; `false` when it
    /// cannot be cut (one series or entry, or, with `budgeted`, its original request's
    /// budget of extra requests is spent).
    fn split_front(&mut self, batch: &Batch, budgeted: bool) -> bool {
        let Some((count, halves)) = wire::refusals(self.delivery.protocol).halves(batch) else {
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
        let half = |h: HalfRequest| Batch {
            body: h.body,
            samples: h.samples,
            push: batch.push,
            cuts: h.cuts,
            bisect_budget: budget.clone(),
            shard: batch.shard,
            markers: batch.markers,
            v2: h.v2,
        };
        let [a, b] = halves;
        self.queue
            .replace_front(batch.shard.index, [half(a), half(b)]);
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
}

/// The extra requests one refused request may cost while it is cut in halves: enough to
/// isolate a few bad series among `series` (about 2·log2(n) requests each), bounded
/// when the receiver refuses everything.
fn bisect_budget(series: usize) -> usize {
    let log2 = usize::BITS - series.max(1).leading_zeros();
    4 * log2 as usize + 8
}

const UNSUPPORTED_MEDIA_TYPE: reqwest::StatusCode = reqwest::StatusCode::UNSUPPORTED_MEDIA_TYPE;

fn status_class(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Status(s) if s.is_client_error() => "4xx",
        FailureKind::Status(s) if s.is_server_error() => "5xx",
        FailureKind::Status(_) => "other",
        _ => "error",
    }
}
