//! The push task on tokio's paused clock, with a scripted [`Deliver`]: retries and
//! their backoff, `Retry-After`, flush and shutdown deadlines, and a refused series
//! found by halving. Deterministic and instant: virtual time advances only when the
//! task waits.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::KeyValue;
use reqwest::StatusCode;
use tokio::time::Instant;

use super::deliver::{Deliver, Sending};
use super::handle::{Command, Pipeline};
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
}

/// Answers from a script, then by a rule; records when each request came and what it
/// held.
struct Scripted {
    script: Mutex<VecDeque<Answer>>,
    /// Refuses (400) every request holding a series with this label value.
    refuse_label: Option<&'static str>,
    log: Mutex<Vec<(Instant, Vec<String>)>>,
    /// Per request, the name of every series (`name(histogram)` for native ones).
    names: Mutex<Vec<Vec<String>>>,
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Answer>) -> Arc<Self> {
        Arc::new(Scripted {
            script: Mutex::new(script.into_iter().collect()),
            refuse_label: None,
            log: Mutex::new(Vec::new()),
            names: Mutex::new(Vec::new()),
        })
    }

    fn refusing(value: &'static str) -> Arc<Self> {
        Arc::new(Scripted {
            script: Mutex::new(VecDeque::new()),
            refuse_label: Some(value),
            log: Mutex::new(Vec::new()),
            names: Mutex::new(Vec::new()),
        })
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
    fn send(&self, body: Bytes) -> Sending {
        let request = crate::prometheus::encode::decode(&body, 1 << 24).expect("a valid body");
        let labels: Vec<String> = request
            .timeseries
            .iter()
            .filter_map(|s| s.labels.iter().find(|l| l.name == "i"))
            .map(|l| l.value.clone())
            .collect();
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
        Box::pin(async move {
            match answer {
                Answer::Accept => SendOutcome::Success {
                    status: StatusCode::NO_CONTENT,
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
        },
        backoff: Duration::from_millis(30)..=Duration::from_secs(5),
        max_samples_per_send: 2000,
        max_pending_bytes: 1 << 20,
        shutdown_timeout: Duration::from_secs(10),
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
    let provider = crate::MeterProvider::builder()
        .with_self_metrics(false)
        .build()
        .expect("an aggregate-only provider");
    let c = provider.meter("t").u64_counter("c").build();
    for i in 0..series {
        c.add(1, &[KeyValue::new("i", i.to_string())]);
    }
    provider.collect()
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
