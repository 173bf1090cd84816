//! The push task on tokio's paused clock, with a scripted [`Deliver`]: retries and
//! their backoff, `Retry-After`, flush and shutdown deadlines, a refused series found
//! by halving, and shards: parallel sends, each series in order, superseded pushes,
//! resharding only between pushes. Deterministic and instant: virtual time advances
//! only when the task waits.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::KeyValue;
use reqwest::StatusCode;
use tokio::time::Instant;

use super::command::Command;
use super::deliver::{Deliver, Sending};
use super::handle::Pipeline;
use super::self_metrics::SelfMetrics;
use super::task::Task;
use super::{Delivery, SeriesOptions};
use crate::transport::{Failure, FailureKind, Protocol, SendOutcome};
use crate::{Error, Snapshot};

/// What the scripted endpoint does with one request.
#[derive(Clone, Copy)]
enum Answer {
    Accept,
    Unavailable(Option<Duration>),
    Refuse(u16),
    /// Prometheus without `--enable-feature=native-histograms`.
    NativeHistogramsDisabled,
    /// Never answers.
    Hang,
    /// 204 with remote write 2.0's written counts: samples, histograms, exemplars.
    Written(u64, u64, u64),
}

/// One answered request, logged when its answer is given: whether it was accepted,
/// and each series' `i` label with its sample timestamps.
struct Landed {
    accepted: bool,
    series: Vec<(String, Vec<i64>)>,
}

/// Answers from a script, then by a rule, each after `delay`; records when each
/// request came and what it held, and the most requests it had at once.
struct Scripted {
    script: Mutex<VecDeque<Answer>>,
    /// Refuses (400) every request holding a series with this label value.
    refuse_label: Option<&'static str>,
    log: Mutex<Vec<(Instant, Vec<String>)>>,
    delay: Duration,
    landed: Arc<Mutex<Vec<Landed>>>,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
    /// Per request, the name of every series (`name(histogram)` for native ones).
    names: Mutex<Vec<Vec<String>>>,
    /// Whether it takes remote write 2.0: `Accept` answers a 2.0 body with the written
    /// counts of what it holds; without, as a 1.0 receiver, with none.
    takes_v2: bool,
    /// Per request, the protocol its body was sent in.
    protocols: Mutex<Vec<Protocol>>,
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Answer>) -> Arc<Self> {
        Arc::new(Self::answering(script, Duration::ZERO))
    }

    fn answering(script: impl IntoIterator<Item = Answer>, delay: Duration) -> Self {
        Scripted {
            script: Mutex::new(script.into_iter().collect()),
            refuse_label: None,
            log: Mutex::new(Vec::new()),
            delay,
            landed: Arc::default(),
            open: Arc::default(),
            most_open: Arc::default(),
            names: Mutex::new(Vec::new()),
            takes_v2: false,
            protocols: Mutex::new(Vec::new()),
        }
    }

    /// As [`new`](Self::new), taking remote write 2.0 (or not).
    fn v2(script: impl IntoIterator<Item = Answer>, takes_v2: bool) -> Arc<Self> {
        Arc::new(Scripted {
            takes_v2,
            ..Self::answering(script, Duration::ZERO)
        })
    }

    /// Accepts everything, each answer after `delay`.
    fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(Self::answering([], delay))
    }

    fn refusing(value: &'static str) -> Arc<Self> {
        Arc::new(Scripted {
            refuse_label: Some(value),
            ..Self::answering([], Duration::ZERO)
        })
    }

    /// Asserts that every series' accepted timestamps strictly increase in the order
    /// the answers were given; returns how many samples were accepted.
    fn assert_each_series_in_order(&self) -> usize {
        let mut last: HashMap<String, i64> = HashMap::new();
        let mut accepted = 0;
        for landed in self.landed.lock().unwrap().iter().filter(|l| l.accepted) {
            for (series, stamps) in &landed.series {
                for &t in stamps {
                    let before = last.insert(series.clone(), t);
                    assert!(
                        before.is_none_or(|b| b < t),
                        "series {series}: {before:?} then {t}"
                    );
                    accepted += 1;
                }
            }
        }
        accepted
    }

    fn most_at_once(&self) -> usize {
        self.most_open.load(Ordering::SeqCst)
    }

    fn times(&self) -> Vec<Instant> {
        self.log.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }

    /// The `i` label of every series of every accepted request.
    fn delivered(&self, refused: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(_, series)| !series.iter().any(|s| s == refused))
            .flat_map(|(_, series)| series.iter().cloned())
            .collect()
    }
}

fn failure(kind: FailureKind, retry_after: Option<Duration>) -> Failure {
    Failure {
        endpoint: "scripted".into(),
        kind,
        retry_after,
        detail: "scripted".into(),
    }
}

impl Deliver for Scripted {
    fn send(&self, body: Bytes, protocol: Protocol) -> Sending {
        self.protocols.lock().unwrap().push(protocol);
        let request = match protocol {
            Protocol::RemoteWriteV2 => crate::prometheus::write_request_v2::as_v1_message(
                &crate::prometheus::write_request_v2::decode(&body, 1 << 24).expect("a valid body"),
            ),
            _ => crate::prometheus::write_request::decode(&body, 1 << 24).expect("a valid body"),
        };
        let carried = request.timeseries.iter().fold((0, 0, 0), |(s, h, e), ts| {
            (
                s + ts.samples.len() as u64,
                h + ts.histograms.len() as u64,
                e + ts.exemplars.len() as u64,
            )
        });
        let counted = (protocol == Protocol::RemoteWriteV2 && self.takes_v2).then_some(carried);
        let series: Vec<(String, Vec<i64>)> = request
            .timeseries
            .iter()
            .filter_map(|s| {
                let i = s.labels.iter().find(|l| l.name == "i")?;
                Some((
                    i.value.clone(),
                    s.samples.iter().map(|x| x.timestamp).collect(),
                ))
            })
            .collect();
        let labels: Vec<String> = series.iter().map(|(i, _)| i.clone()).collect();
        let refused = self
            .refuse_label
            .is_some_and(|v| labels.iter().any(|l| l == v));
        self.log.lock().unwrap().push((Instant::now(), labels));
        let names = request.timeseries.iter().map(|s| {
            let name = s.labels.iter().find(|l| l.name == "__name__");
            let name = name.map_or(String::new(), |l| l.value.clone());
            match s.histograms.is_empty() {
                true => name,
                false => format!("{name}(histogram)"),
            }
        });
        self.names.lock().unwrap().push(names.collect());
        let answer = match self.script.lock().unwrap().pop_front() {
            Some(answer) => answer,
            None if refused => Answer::Refuse(400),
            None => Answer::Accept,
        };
        let (delay, landed, open) = (self.delay, self.landed.clone(), self.open.clone());
        let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_open.fetch_max(now_open, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            open.fetch_sub(1, Ordering::SeqCst);
            // A 2.0 body answered by a 1.0 receiver is stored as an empty request.
            let stored = protocol != Protocol::RemoteWriteV2 || counted.is_some();
            landed.lock().unwrap().push(Landed {
                accepted: matches!(answer, Answer::Accept | Answer::Written(..)) && stored,
                series,
            });
            let written = |(samples, histograms, exemplars)| crate::transport::Written {
                samples: Some(samples),
                histograms: Some(histograms),
                exemplars: Some(exemplars),
            };
            match answer {
                Answer::Accept => SendOutcome::Success {
                    status: StatusCode::NO_CONTENT,
                    written: counted.map(written),
                },
                Answer::Written(s, h, e) => SendOutcome::Success {
                    status: StatusCode::NO_CONTENT,
                    written: Some(written((s, h, e))),
                },
                Answer::Unavailable(retry_after) => SendOutcome::Retryable(failure(
                    FailureKind::Status(StatusCode::SERVICE_UNAVAILABLE),
                    retry_after,
                )),
                Answer::Refuse(status) => SendOutcome::Permanent(failure(
                    FailureKind::Status(StatusCode::from_u16(status).unwrap_or_default()),
                    None,
                )),
                Answer::NativeHistogramsDisabled => SendOutcome::Retryable(Failure {
                    detail: "native histograms are disabled\n".into(),
                    ..failure(FailureKind::Status(StatusCode::INTERNAL_SERVER_ERROR), None)
                }),
                Answer::Hang => std::future::pending().await,
            }
        })
    }
}

fn delivery() -> Delivery {
    Delivery {
        name: "t".into(),
        protocol: Protocol::RemoteWrite,
        interval: Duration::from_secs(3600),
        max_body_bytes: 0,
        series: SeriesOptions {
            external_labels: Vec::new(),
            target_info: true,
            scope_labels: true,
            native_histograms: Default::default(),
            fallen_back: Default::default(),
            name_translation: Default::default(),
        },
        backoff: Duration::from_millis(30)..=Duration::from_secs(5),
        max_samples_per_send: 2000,
        max_pending_bytes: 1 << 20,
        max_shards: 50,
        shutdown_timeout: Duration::from_secs(10),
        stderr_fallback: false,
    }
}

const FLUSH_WAIT: Duration = Duration::from_secs(30);

fn start(sender: Arc<Scripted>, delivery: Delivery) -> Pipeline {
    let meter = opentelemetry::metrics::MeterProvider::meter(
        &opentelemetry::metrics::NoopMeterProvider::new(),
        "t",
    );
    let metrics = SelfMetrics::new(&meter, "t", None);
    let task = Task::new(sender, delivery, None, metrics, FLUSH_WAIT);
    Pipeline::spawn(&tokio::runtime::Handle::current(), task)
}

/// A snapshot of one counter with `series` attribute sets `i=0..series`.
fn snapshot(series: usize) -> Snapshot {
    growing(&[series]).remove(0)
}

/// Snapshots of one counter (so that their series are the same series) as it grows
/// to `sizes[k]` attribute sets `i=0..sizes[k]`.
fn growing(sizes: &[usize]) -> Vec<Snapshot> {
    let most = sizes.iter().copied().max().unwrap_or(0);
    let provider = crate::MeterProvider::builder()
        .with_self_metrics(false)
        .with_cardinality_limit(most + 2)
        .build()
        .expect("an aggregate-only provider");
    let c = provider.meter("t").u64_counter("c").build();
    let mut added = 0;
    let mut snapshots = Vec::new();
    for &size in sizes {
        for i in added..size {
            c.add(1, &[KeyValue::new("i", i.to_string())]);
        }
        added = added.max(size);
        snapshots.push(provider.collect());
    }
    snapshots
}

#[tokio::test(start_paused = true)]
async fn retries_wait_a_doubling_jittered_backoff_then_deliver() {
    let sender = Scripted::new([Answer::Unavailable(None); 3]);
    let pipeline = start(sender.clone(), delivery());
    pipeline.export(snapshot(1)).await.expect("delivered");
    let times = sender.times();
    assert_eq!(times.len(), 4);
    // Each wait is drawn from the upper half of a step that doubles from 30 ms.
    for (k, step_ms) in [30u64, 60, 120].into_iter().enumerate() {
        let gap = times[k + 1] - times[k];
        let step = Duration::from_millis(step_ms);
        assert!(gap >= step / 2 && gap <= step, "wait {k}: {gap:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_is_a_floor_for_the_next_attempt() {
    let sender = Scripted::new([Answer::Unavailable(Some(Duration::from_secs(2)))]);
    let pipeline = start(sender.clone(), delivery());
    pipeline.export(snapshot(1)).await.expect("delivered");
    let times = sender.times();
    assert!(times[1] - times[0] >= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_flush_answers_at_its_deadline_while_the_push_keeps_retrying() {
    let sender = Scripted::new([Answer::Unavailable(None); 1000]);
    let pipeline = start(sender.clone(), delivery());
    let started = Instant::now();
    let err = pipeline.export(snapshot(1)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Push(m) if m.contains("still retrying")),
        "{err}"
    );
    let waited = started.elapsed();
    assert!(waited >= FLUSH_WAIT && waited < FLUSH_WAIT + Duration::from_secs(6));
    // Still retrying in the background.
    let attempts = sender.times().len();
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(sender.times().len() > attempts);
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_up_at_its_deadline_when_the_endpoint_hangs() {
    let sender = Scripted::new([Answer::Hang; 10]);
    let pipeline = start(sender.clone(), delivery());
    // The export waits for ever on the hung request; shutdown's deadline ends it.
    let (_, (result, waited)) = tokio::join!(pipeline.export(snapshot(3)), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = Instant::now();
        let result = pipeline.ask(Command::Shutdown).await;
        (result, started.elapsed())
    });
    assert!(
        matches!(result, Err(Error::Undelivered { samples, .. }) if samples > 0),
        "{result:?}"
    );
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(11));
}

#[tokio::test(start_paused = true)]
async fn a_refused_series_is_found_by_halving_and_costs_only_itself() {
    let sender = Scripted::refusing("77");
    let pipeline = start(sender.clone(), delivery());
    let err = pipeline.export(snapshot(200)).await.unwrap_err();
    assert!(matches!(&err, Error::Push(m) if m.contains("400")), "{err}");
    let mut delivered = sender.delivered("77");
    delivered.sort_by_key(|i| i.parse::<u32>().unwrap_or(0));
    let want: Vec<String> = (0..200)
        .filter(|i| *i != 77)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(delivered, want, "every other series exactly once");
    // One request, then about 2·log2(200) halves.
    let requests = sender.times().len();
    assert!((3..=1 + 40).contains(&requests), "{requests} requests");
    // No wait between the halves.
    assert!(sender.times().iter().all(|t| *t == sender.times()[0]));
}

/// Delivery with requests of 10 samples: 1500 series make 150 requests, for which an
/// endpoint assumed to take 100 ms per request gets 8 shards (150 × 0.1 s / 2 s).
fn small_requests() -> Delivery {
    Delivery {
        max_samples_per_send: 10,
        ..delivery()
    }
}

/// [`small_requests`] through one shard.
fn one_shard() -> Delivery {
    Delivery {
        max_shards: 1,
        ..small_requests()
    }
}

/// Through an endpoint answering each request after 1 s, exports a counter of
/// `sizes[0]` series, and `later` after it (while the first is still on its way) the
/// same counter grown to `sizes[1]`; both flushes must succeed. Returns the endpoint.
async fn overlapping(delivery: Delivery, sizes: [usize; 2], later: Duration) -> Arc<Scripted> {
    let sender = Scripted::slow(Duration::from_secs(1));
    let pipeline = start(sender.clone(), delivery);
    let [one, two] = <[Snapshot; 2]>::try_from(growing(&sizes)).expect("two snapshots");
    let (first, second) = tokio::join!(pipeline.export(one), async {
        tokio::time::sleep(later).await;
        pipeline.export(two).await
    });
    first.expect("the older push's flush is answered");
    second.expect("delivered");
    sender
}

#[tokio::test(start_paused = true)]
async fn a_large_push_goes_out_through_several_shards_each_series_in_order() {
    let sender = Scripted::slow(Duration::from_millis(100));
    let pipeline = start(sender.clone(), small_requests());
    let started = Instant::now();
    for push in growing(&[1500; 3]) {
        pipeline.export(push).await.expect("delivered");
    }
    assert_eq!(sender.assert_each_series_in_order(), 3 * 1500);
    assert_eq!(sender.most_at_once(), 8);
    // 3 pushes of 150 requests, 8 at a time: about 3 × 19 rounds of 100 ms.
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn each_series_stays_in_order_through_retries_on_several_shards() {
    let mut script = Vec::new();
    for k in 0..200 {
        script.push(if k % 3 == 0 {
            Answer::Unavailable(None)
        } else {
            Answer::Accept
        });
    }
    let sender = Arc::new(Scripted::answering(script, Duration::from_millis(100)));
    let pipeline = start(sender.clone(), small_requests());
    for push in growing(&[1500; 3]) {
        pipeline.export(push).await.expect("delivered");
    }
    assert_eq!(sender.assert_each_series_in_order(), 3 * 1500);
    assert!(sender.most_at_once() > 1);
}

#[tokio::test(start_paused = true)]
async fn one_shard_at_most_sends_one_request_at_a_time() {
    let sender = Scripted::slow(Duration::from_millis(10));
    let pipeline = start(sender.clone(), one_shard());
    pipeline.export(snapshot(1500)).await.expect("delivered");
    assert_eq!(sender.most_at_once(), 1);
    assert_eq!(sender.assert_each_series_in_order(), 1500);
}

#[tokio::test(start_paused = true)]
async fn a_newer_push_supersedes_the_unsent_requests_of_an_older_one_and_answers_its_flush() {
    // Push 1 needs 15 s at one request a second; push 2 comes after 3.5 s, and the
    // flush of push 1 is answered when push 2 is through.
    let sender = overlapping(one_shard(), [150, 150], Duration::from_millis(3500)).await;
    // Push 1's first 4 requests (the 4th on the wire when push 2 came), then push 2's
    // 16 (150 series and target_info).
    assert_eq!(sender.landed.lock().unwrap().len(), 4 + 16);
    // The first request held target_info too.
    assert_eq!(sender.assert_each_series_in_order(), 39 + 150);
}

#[tokio::test(start_paused = true)]
async fn a_push_cut_for_another_shard_count_waits_for_the_older_one_on_the_wire() {
    // Push 1: one request, one shard, on the wire for 1 s. Push 2 at 0.5 s: 150
    // requests, 8 shards; none may start before push 1's request is answered, since
    // its series sit in other shards now.
    let sender = overlapping(small_requests(), [5, 1500], Duration::from_millis(500)).await;
    let sends = sender.times();
    // Push 2: 1501 samples in 8 shards, each shard's last request partly full.
    assert!(
        (1 + 151..=1 + 151 + 8).contains(&sends.len()),
        "{}",
        sends.len()
    );
    assert!(sends[1] - sends[0] >= Duration::from_secs(1), "{sends:?}");
    assert_eq!(sender.most_at_once(), 8);
    assert_eq!(sender.assert_each_series_in_order(), 5 + 1500);
}

#[tokio::test(start_paused = true)]
async fn a_fast_endpoint_is_resharded_down_between_pushes_only() {
    let sender = Scripted::slow(Duration::from_millis(1));
    let pipeline = start(sender.clone(), small_requests());
    let [one, two] = <[Snapshot; 2]>::try_from(growing(&[1500, 1500])).expect("two");
    // The first push assumes 100 ms a request: 8 shards.
    pipeline.export(one).await.expect("delivered");
    assert_eq!(sender.most_at_once(), 8);
    let first = sender.times().len();
    // Measured at 1 ms: 150 × 0.001 s / 2 s rounds up to one shard.
    sender.most_open.store(0, Ordering::SeqCst);
    pipeline.export(two).await.expect("delivered");
    assert_eq!(sender.most_at_once(), 1);
    // 1500 series and target_info in requests of 10, one shard.
    assert_eq!(sender.times().len(), first + 151);
    assert_eq!(sender.assert_each_series_in_order(), 2 * 1500);
}

/// A provider with one exponential histogram `h` (seconds) holding 0.5 and 3.
fn exponential_histogram() -> crate::MeterProvider {
    let provider = crate::MeterProvider::builder()
        .with_self_metrics(false)
        .with_exponential_histograms(160, 20)
        .build()
        .expect("an aggregate-only provider");
    let h = provider
        .meter("t")
        .f64_histogram("h")
        .with_unit("s")
        .build();
    h.record(0.5, &[]);
    h.record(3.0, &[]);
    provider
}

#[tokio::test(start_paused = true)]
async fn a_receiver_without_native_histograms_gets_the_same_push_again_as_classic_series() {
    let sender = Scripted::new([Answer::NativeHistogramsDisabled]);
    let mut delivery = delivery();
    delivery.series.native_histograms = Arc::new(true.into());
    let native = delivery.series.native_histograms.clone();
    let pipeline = start(sender.clone(), delivery);
    let provider = exponential_histogram();
    for _ in 0..2 {
        pipeline
            .export(provider.collect())
            .await
            .expect("delivered");
    }
    let names = sender.names.lock().unwrap().clone();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], ["target_info", "h_seconds(histogram)"]);
    // The refused request again at once, its buckets as classic series; the next push
    // classic from the start.
    for classic in &names[1..] {
        assert!(
            classic.iter().all(|n| !n.ends_with("(histogram)")),
            "{classic:?}"
        );
        for name in ["h_seconds_bucket", "h_seconds_sum", "h_seconds_count"] {
            assert!(classic.iter().any(|n| n == name), "{name} in {classic:?}");
        }
    }
    assert_eq!(sender.times()[0], sender.times()[1]);
    assert!(!native.load(std::sync::atomic::Ordering::Relaxed));
}

/// [`delivery`] as remote write 2.0.
fn v2_delivery() -> Delivery {
    Delivery {
        protocol: Protocol::RemoteWriteV2,
        ..delivery()
    }
}

/// The protocol of every request, in the order sent.
fn protocols(sender: &Scripted) -> Vec<Protocol> {
    sender.protocols.lock().unwrap().clone()
}

/// [`start`], with the self-metrics recorded into the returned provider.
fn start_metered(sender: Arc<Scripted>, delivery: Delivery) -> (Pipeline, crate::MeterProvider) {
    let provider = crate::MeterProvider::builder()
        .with_self_metrics(false)
        .build()
        .expect("an aggregate-only provider");
    let metrics = SelfMetrics::new(&provider.meter("prompush"), "t", None);
    let task = Task::new(sender, delivery, None, metrics, FLUSH_WAIT);
    let pipeline = Pipeline::spawn(&tokio::runtime::Handle::current(), task);
    (pipeline, provider)
}

/// The value of counter `name`'s point that has attribute `key=value`, 0 without one.
fn counted(provider: &crate::MeterProvider, name: &str, key: &str, value: &str) -> f64 {
    let snapshot = provider.collect();
    let Some(metric) = snapshot.metrics().find(|m| &*m.descriptor.name == name) else {
        return 0.0;
    };
    let crate::snapshot::MetricData::Sum { points, .. } = &metric.data else {
        panic!("{name} is a counter");
    };
    points
        .iter()
        .filter(|p| {
            p.attributes
                .iter()
                .any(|kv| kv.key.as_str() == key && kv.value.as_str() == value)
        })
        .map(|p| p.value.as_f64())
        .sum()
}

#[tokio::test(start_paused = true)]
async fn a_receiver_that_takes_2_0_gets_2_0_and_its_written_counts_are_counted() {
    let sender = Scripted::v2([], true);
    let delivery = v2_delivery();
    let fallen_back = delivery.series.fallen_back.clone();
    let (pipeline, provider) = start_metered(sender.clone(), delivery);
    for push in growing(&[5, 5]) {
        pipeline.export(push).await.expect("delivered");
    }
    assert_eq!(sender.assert_each_series_in_order(), 2 * 5);
    assert_eq!(protocols(&sender), [Protocol::RemoteWriteV2; 2]);
    assert!(!fallen_back.load(Ordering::Relaxed));
    // target_info and five series per push.
    assert_eq!(
        counted(&provider, "prompush.written", "kind", "samples"),
        12.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_2xx_without_written_counts_sends_every_request_again_as_1_0_on_every_shard() {
    let sender = Arc::new(Scripted {
        takes_v2: false,
        ..Scripted::answering([], Duration::from_millis(100))
    });
    let delivery = Delivery {
        protocol: Protocol::RemoteWriteV2,
        ..small_requests()
    };
    let fallen_back = delivery.series.fallen_back.clone();
    let pipeline = start(sender.clone(), delivery);
    for push in growing(&[1500; 2]) {
        pipeline.export(push).await.expect("delivered");
    }
    assert!(fallen_back.load(Ordering::Relaxed));
    // Every value stored once, in order: the 2.0 requests stored nothing.
    assert_eq!(sender.assert_each_series_in_order(), 2 * 1500);
    let sent = protocols(&sender);
    let v2 = sent
        .iter()
        .filter(|p| **p == Protocol::RemoteWriteV2)
        .count();
    // Only the requests on the wire at the first answer went as 2.0, one per shard.
    assert!((1..=8).contains(&v2), "{v2} requests as 2.0");
    let first_v1 = sent
        .iter()
        .position(|p| *p == Protocol::RemoteWrite)
        .unwrap();
    assert!(sent[first_v1..].iter().all(|p| *p == Protocol::RemoteWrite));
}

#[tokio::test(start_paused = true)]
async fn a_415_sends_the_request_again_as_1_0_at_once_and_stays_on_1_0() {
    let sender = Scripted::v2([Answer::Refuse(415)], true);
    let pipeline = start(sender.clone(), v2_delivery());
    for push in growing(&[5, 5]) {
        pipeline.export(push).await.expect("delivered");
    }
    assert_eq!(sender.assert_each_series_in_order(), 2 * 5);
    let (v1, v2) = (Protocol::RemoteWrite, Protocol::RemoteWriteV2);
    assert_eq!(protocols(&sender), [v2, v1, v1]);
    assert_eq!(sender.times()[0], sender.times()[1]);
}

#[tokio::test(start_paused = true)]
async fn no_exemplars_or_fewer_samples_written_are_counted_and_never_sent_again() {
    // One push of target_info and five series: six samples, no exemplars.
    let sender = Scripted::v2([Answer::Written(4, 0, 0)], true);
    let delivery = v2_delivery();
    let fallen_back = delivery.series.fallen_back.clone();
    let (pipeline, provider) = start_metered(sender.clone(), delivery);
    pipeline.export(snapshot(5)).await.expect("accepted");
    assert_eq!(protocols(&sender), [Protocol::RemoteWriteV2]);
    assert!(!fallen_back.load(Ordering::Relaxed));
    let dropped = counted(
        &provider,
        "prompush.samples.dropped",
        "reason",
        "not_written",
    );
    assert_eq!(dropped, 2.0);
    assert_eq!(
        counted(&provider, "prompush.written", "kind", "samples"),
        4.0
    );
}

#[tokio::test(start_paused = true)]
async fn exemplars_not_stored_are_counted_and_are_no_fallback() {
    let sampling = crate::MeterProvider::builder()
        .with_self_metrics(false)
        .with_exemplar_filter(crate::ExemplarFilter::AlwaysOn)
        .build()
        .expect("an aggregate-only provider");
    let c = sampling.meter("t").u64_counter("c").build();
    for i in 0..5 {
        c.add(1, &[KeyValue::new("i", i.to_string())]);
    }
    // target_info and five series, each counter series with one exemplar.
    let sender = Scripted::v2([Answer::Written(6, 0, 0)], true);
    let delivery = v2_delivery();
    let fallen_back = delivery.series.fallen_back.clone();
    let (pipeline, provider) = start_metered(sender.clone(), delivery);
    pipeline.export(sampling.collect()).await.expect("accepted");
    assert_eq!(protocols(&sender), [Protocol::RemoteWriteV2]);
    assert!(!fallen_back.load(Ordering::Relaxed));
    assert_eq!(
        counted_total(&provider, "prompush.exemplars.not_written"),
        5.0
    );
    let dropped = counted(
        &provider,
        "prompush.samples.dropped",
        "reason",
        "not_written",
    );
    assert_eq!(dropped, 0.0);
}

/// The total of counter `name` over its points.
fn counted_total(provider: &crate::MeterProvider, name: &str) -> f64 {
    let snapshot = provider.collect();
    let Some(metric) = snapshot.metrics().find(|m| &*m.descriptor.name == name) else {
        return 0.0;
    };
    let crate::snapshot::MetricData::Sum { points, .. } = &metric.data else {
        panic!("{name} is a counter");
    };
    points.iter().map(|p| p.value.as_f64()).sum()
}
