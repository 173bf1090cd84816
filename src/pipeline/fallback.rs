//! Failures that speak with no subscriber: when prompush's own warnings would go
//! nowhere (no `tracing` subscriber where the push task runs), a failing destination
//! writes one line to stderr, as Python's `logging` prints warnings when nothing is
//! configured. At most once an hour per destination and kind of failure (each status,
//! a timeout, no connection, TLS, …): a user learns that pushes fail and why, and a
//! long outage does not flood stderr.
//!
//! With a subscriber installed, even one whose filter hides prompush's warnings, the
//! subscriber decides and nothing is written here. Off with
//! [`MeterProviderBuilder::with_stderr_fallback`](crate::MeterProviderBuilder::with_stderr_fallback)
//! or [`env::LOG_FALLBACK`](crate::env::LOG_FALLBACK). The line shows the failure as
//! every log line and error does: endpoint without credentials, answer scrubbed.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::transport::{Failure, FailureKind};

/// Where the lines go: stderr, or a test's buffer.
pub(super) type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// The longest a line gets: a receiver's answer may be a whole HTML page.
const MAX_LINE_CHARS: usize = 400;

/// How long one kind of failure stays quiet after its line.
const EVERY: Duration = Duration::from_secs(3600);

/// One destination's fallback: its sink (`None`: off) and when each kind of failure
/// was last written.
pub(super) struct StderrFallback {
    sink: Option<Sink>,
    written: HashMap<Kind, Instant>,
}

/// A kind of failure, as far as the fallback tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Status(u16),
    Timeout,
    Connect,
    ProxyConnect,
    Tls,
    Request,
}

impl From<FailureKind> for Kind {
    fn from(kind: FailureKind) -> Self {
        match kind {
            FailureKind::Status(status) => Kind::Status(status.as_u16()),
            FailureKind::Timeout(_) => Kind::Timeout,
            FailureKind::Connect => Kind::Connect,
            FailureKind::ProxyConnect => Kind::ProxyConnect,
            FailureKind::Tls(_) => Kind::Tls,
            FailureKind::Request => Kind::Request,
        }
    }
}

impl StderrFallback {
    /// Writing to stderr when `enabled`.
    pub(super) fn new(enabled: bool) -> Self {
        let stderr: Sink = Arc::new(write_stderr);
        Self::to(enabled.then_some(stderr))
    }

    /// Writing to `sink` (`None`: off).
    pub(super) fn to(sink: Option<Sink>) -> Self {
        StderrFallback {
            sink,
            written: HashMap::new(),
        }
    }

    /// Says that a push to `destination` failed (`dropped`: refused for good, else
    /// retried), when nothing else would and this kind was not said within the hour.
    pub(super) fn failing(&mut self, destination: &str, failure: &Failure, dropped: bool) {
        let Some(sink) = &self.sink else {
            return;
        };
        if !no_subscriber() {
            return;
        }
        let now = Instant::now();
        match self.written.entry(failure.kind.into()) {
            Entry::Occupied(last) if now.duration_since(*last.get()) < EVERY => return,
            Entry::Occupied(mut last) => {
                last.insert(now);
            }
            Entry::Vacant(first) => {
                first.insert(now);
            }
        }
        let what = if dropped {
            "refused a push, which is dropped"
        } else {
            "push failing, retrying"
        };
        sink(&format!(
            "prompush: destination {destination:?}: {what}: {} [no tracing subscriber is \
             installed: install one for details; PROMPUSH_LOG_FALLBACK=off silences these \
             lines]",
            one_line(&failure.to_string())
        ));
    }
}

/// Writes `line` to stderr; a failed write (a closed pipe) is ignored, where
/// `eprintln!` would panic and end the push task.
#[cfg(not(test))]
fn write_stderr(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Unit tests' lines go where the test harness captures them.
#[cfg(test)]
fn write_stderr(line: &str) {
    eprintln!("{line}");
}

/// Whether the events the push task logs go nowhere: no subscriber is the default
/// on this thread (none set globally, none set for the thread).
fn no_subscriber() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.is::<tracing::subscriber::NoSubscriber>())
}

/// `text` on one line (each run of whitespace one space), cut at [`MAX_LINE_CHARS`].
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len().min(MAX_LINE_CHARS + 3));
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(word);
    }
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((cut, _)) => {
            line.truncate(cut);
            line.push('…');
            line
        }
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use reqwest::StatusCode;

    use super::*;

    /// A fallback writing into the returned buffer.
    fn captured() -> (StderrFallback, Arc<Mutex<Vec<String>>>) {
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let buffer = lines.clone();
        let sink: Sink = Arc::new(move |line: &str| buffer.lock().unwrap().push(line.into()));
        (StderrFallback::to(Some(sink)), lines)
    }

    fn failure(kind: FailureKind, detail: &str) -> Failure {
        Failure {
            endpoint: "http://127.0.0.1:9/api/v1/write".into(),
            kind,
            retry_after: None,
            detail: detail.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_kind_of_failure_is_written_once_an_hour_on_one_line() {
        let _none = tracing::dispatcher::set_default(&tracing::Dispatch::none());
        let (mut fallback, lines) = captured();
        let refused = failure(
            FailureKind::Status(StatusCode::METHOD_NOT_ALLOWED),
            "<html>\n<body>Method\tNot Allowed</body>\n</html>",
        );
        for _ in 0..3 {
            fallback.failing("default", &refused, true);
        }
        fallback.failing("default", &failure(FailureKind::Connect, "refused"), false);
        assert_eq!(lines.lock().unwrap().len(), 2, "{lines:?}");
        tokio::time::advance(EVERY - Duration::from_secs(1)).await;
        fallback.failing("default", &refused, true);
        assert_eq!(lines.lock().unwrap().len(), 2, "{lines:?}");
        tokio::time::advance(Duration::from_secs(1)).await;
        fallback.failing("default", &refused, true);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(!lines[0].contains('\n'), "{}", lines[0]);
        assert!(lines[0].starts_with("prompush: destination \"default\": "));
        assert!(lines[1].contains("cannot connect"), "{}", lines[1]);
    }

    #[test]
    fn nothing_is_written_when_off_or_when_a_subscriber_is_installed() {
        let refused = failure(FailureKind::Status(StatusCode::NOT_FOUND), "");
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let (mut fallback, lines) = captured();
            fallback.failing("default", &refused, true);
            assert!(lines.lock().unwrap().is_empty());
        });
        tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
            StderrFallback::to(None).failing("default", &refused, true);
        });
    }

    #[test]
    fn long_answers_are_cut() {
        let line = one_line(&"é".repeat(1000));
        assert_eq!(line.chars().count(), MAX_LINE_CHARS + 1);
        assert!(line.ends_with('…'));
        assert_eq!(one_line(" a \n b\t"), "a b");
    }
}

/// The whole way: a push task whose sender meets a loopback endpoint answering `405`.
#[cfg(all(test, feature = "receiver"))]
mod loopback {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::pipeline::handle::Pipeline;
    use crate::pipeline::self_metrics::SelfMetrics;
    use crate::pipeline::task::Task;
    use crate::receiver::{Receiver, Reply};
    use crate::transport::HttpSender;
    use crate::Destination;

    /// Pushes three times to an endpoint answering `405`; returns the fallback's lines.
    async fn lines_after_three_refusals() -> Vec<String> {
        let receiver = Receiver::bind().await.expect("binds loopback");
        for _ in 0..3 {
            receiver.reply_next(1, Reply::status(405));
        }
        let endpoint = format!("http://{}/", receiver.addr());
        let (transport, delivery) = Destination::remote_write("default", endpoint)
            .with_bearer_token("tok-SECRET")
            .validate(Duration::from_secs(3600))
            .expect("valid");
        let sender = Arc::new(HttpSender::new(transport, delivery.protocol).expect("sender"));
        let meter = crate::pipeline::self_metrics::noop_meter();
        let metrics = SelfMetrics::new(&meter, "default", None);
        let mut task = Task::new(sender, delivery, None, metrics, Duration::from_secs(10));
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let buffer = lines.clone();
        task.fallback = StderrFallback::to(Some(Arc::new(move |line: &str| {
            buffer.lock().unwrap().push(line.into())
        })));
        let pipeline = Pipeline::spawn(&tokio::runtime::Handle::current(), task);
        let provider = crate::MeterProvider::builder()
            .with_self_metrics(false)
            .build()
            .expect("an aggregate-only provider");
        provider.meter("t").u64_counter("c").build().add(1, &[]);
        for _ in 0..3 {
            let refused = pipeline.export(provider.collect()).await;
            assert!(refused.is_err(), "{refused:?}");
        }
        let lines = lines.lock().unwrap().clone();
        lines
    }

    #[tokio::test]
    async fn a_405_writes_one_line_with_the_path_hint_and_no_secret() {
        let _none = tracing::dispatcher::set_default(&tracing::Dispatch::none());
        let lines = lines_after_three_refusals().await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(line.contains("destination \"default\""), "{line}");
        assert!(line.contains("405 Method Not Allowed"), "{line}");
        assert!(line.contains("check the endpoint's path"), "{line}");
        assert!(line.contains("PROMPUSH_LOG_FALLBACK=off"), "{line}");
        assert!(!line.contains("tok-SECRET"), "{line}");
    }

    #[tokio::test]
    async fn a_405_writes_nothing_when_a_subscriber_is_installed() {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        let _installed = tracing::subscriber::set_default(subscriber);
        assert_eq!(lines_after_three_refusals().await, Vec::<String>::new());
    }
}
