//! The push pipeline: every interval, collect → translate → encode → queue → POST.
//!
//! One task per destination runs on the shared background runtime (`crate::runtime`):
//! each collects at its own interval and has its own queue, retries and connection
//! state, so a slow or dead destination never delays another. A task cuts each push
//! into shards by a hash of each series' labels and owns a [`queue`] of one FIFO per
//! shard; each shard sends strictly from its front, one request at a time, so a
//! series' samples always reach the endpoint in timestamp order while the shards send
//! in parallel. [`shards`] sizes the shard count between pushes; failures are retried
//! with [`backoff`], and the queue's memory is capped. The application talks to the
//! task through a command channel: `force_flush` and `shutdown` send a command and
//! wait, bounded, for the answer. Instruments never touch this module: recording
//! cannot wait on the network.
//!
//! One file per job: [`handle`] is what the application holds, [`command`] what it
//! sends the task (commands, where their answers go, the callers waiting), [`task`] the
//! push task's loop, [`outcome`] what each answer does to the queue (a refused request
//! is cut in halves to find what was refused), [`wire`] what each protocol does (writing
//! requests, cutting, reading refusals), [`collect_and_encode`] collection and encoding
//! on a blocking thread, [`clock`] the push timestamps, [`timing`] deadlines and log
//! pacing, [`deliver`] the one seam to the network, [`queue`], [`shards`] and
//! [`backoff`] the delivery state, [`self_metrics`] the self-metrics, [`fallback`] the
//! stderr line a failing destination writes when no `tracing` subscriber would show its
//! warnings. The options a destination is configured with, and their defaults, are
//! [`Destination`](crate::Destination)'s.

mod backoff;
mod clock;
mod collect_and_encode;
mod command;
mod deliver;
mod fallback;
mod handle;
mod outcome;
mod queue;
pub(crate) mod self_metrics;
mod shards;
mod task;
mod timing;
mod wire;

#[cfg(test)]
mod tests;

use std::ops::RangeInclusive;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::prometheus::naming::NameTranslation;
use crate::transport::Protocol;
use crate::Snapshot;

pub(crate) use handle::{Pending, Pipeline};

/// What a pipeline calls to collect one push: its only view of the provider (all of
/// it, for a destination's pipeline; the custom metrics it carries, for a
/// custom-metrics pipeline).
pub(crate) type CollectFn = Arc<dyn Fn() -> Collected + Send + Sync>;

/// What a [`CollectFn`] returns: one push's metrics.
pub(crate) struct Collected {
    /// The metrics to push.
    pub(crate) snapshot: Snapshot,
    /// Metrics pushed before that end now (a deleted custom metric, say): their series
    /// get stale markers, before the snapshot's values.
    pub(crate) ending: Option<Snapshot>,
}

impl From<Snapshot> for Collected {
    fn from(snapshot: Snapshot) -> Self {
        Collected {
            snapshot,
            ending: None,
        }
    }
}

/// Delivery settings of one destination, as its [`Destination`](crate::Destination)
/// gave them.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// The destination's name, for logs and the `prompush_*` metrics.
    pub name: String,
    pub protocol: Protocol,
    pub interval: Duration,
    /// For protocols whose bodies are cut by size (JSON): the largest body.
    pub max_body_bytes: usize,
    /// The wait before the first retry, and the longest wait.
    pub backoff: RangeInclusive<Duration>,
    pub series: SeriesOptions,
    pub max_samples_per_send: usize,
    pub max_pending_bytes: usize,
    /// Most requests on the wire at once (remote write; JSON sends one at a time).
    pub max_shards: usize,
    pub shutdown_timeout: Duration,
    /// Whether failures are written to stderr when no `tracing` subscriber is
    /// installed (see [`fallback`]).
    pub stderr_fallback: bool,
}

/// What a destination's series carry besides their own labels.
#[derive(Debug, Clone)]
pub(crate) struct SeriesOptions {
    /// Added to every series that lacks a label of the name.
    pub(crate) external_labels: Vec<(String, String)>,
    /// Whether pushes carry `target_info` (one pipeline per destination does: two
    /// pipelines sending one series would interleave its timestamps).
    pub(crate) target_info: bool,
    /// Whether series carry `otel_scope_name` and `otel_scope_version`.
    pub(crate) scope_labels: bool,
    /// Whether exponential histograms go out as native ones. Shared by the
    /// destination's pipelines (its custom metrics' too): a receiver that refuses them
    /// turns it off for all (see `outcome`).
    pub(crate) native_histograms: Arc<AtomicBool>,
    /// Whether a remote-write 2.0 destination has fallen back to 1.0 (its receiver
    /// takes only 1.0). Shared by the destination's pipelines, as `native_histograms`.
    pub(crate) fallen_back: Arc<AtomicBool>,
    /// How names are translated.
    pub(crate) name_translation: NameTranslation,
}
