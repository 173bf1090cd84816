//! Name parity, measured: one set of instruments that covers the naming cases goes into
//! Prometheus 3 three ways, and the stored series (names, label names and values) are
//! compared:
//!
//! - (a) prompush → remote write;
//! - (b) `opentelemetry_sdk` + `opentelemetry-otlp` (HTTP protobuf) → Prometheus 3's OTLP
//!   receiver;
//! - (c) the same SDK and exporter → the OpenTelemetry Collector → remote write.
//!
//! The peers' configurations are pinned here, since their defaults differ and have
//! changed between releases; every difference that remains is listed in [`ALLOWED`]
//! with its reason (and in the guide's "How prompush compares" chapter). A difference
//! that goes away fails the test as surely as a new one. Each side gets a Prometheus of
//! its own, so a series is where it is because of its own path.
//!
//! One view ([`renames`], the same closure on prompush and on the SDK) gives some
//! instruments names with dots and characters outside ASCII, the one way such names
//! arise. The instruments go through once with the escaping strategy every receiver
//! takes and once with `NoUTF8EscapingWithSuffixes` on every side (prompush over remote
//! write 2.0).

// The test support needs the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;
use prompush::{Destination, MeterProvider, NameTranslation};

use crate::servers::otelcol::Collector;
use crate::servers::{Kind, Server};
use crate::support::presets::{blocking, HOUR};

/// Prometheus' `otlp:` block for (b), pinned: names escaped to the classic character set
/// with unit and type suffixes (the strategy remote write needs, and what prompush
/// sends); scope name, version, schema URL and attributes as labels, as the
/// compatibility specification says; no resource attribute promoted (they go on
/// `target_info`); label names sanitised as prompush does (runs of `_` made one, a
/// leading `_` kept). Prometheus' own defaults differ in the scope labels (off) and in
/// the last two (older behaviour kept), see the guide's "How names are translated".
const PROMETHEUS_OTLP: &str = "\
translation_strategy: UnderscoreEscapingWithSuffixes
promote_scope_metadata: true
promote_all_resource_attributes: false
keep_identifying_resource_attributes: false
convert_histograms_to_nhcb: false
label_name_underscore_sanitization: false
label_name_preserve_multiple_underscores: false
";

/// The Collector's `prometheusremotewrite` options for (c), pinned (after `endpoint`):
/// the same translation strategy, scope labels on, `target_info` on, no resource
/// attribute copied onto every series, remote write 1.0.
const COLLECTOR_EXPORTER: &str = "\
translation_strategy: UnderscoreEscapingWithSuffixes
disable_scope_info: false
target_info:
  enabled: true
resource_to_telemetry_conversion:
  enabled: false
protobuf_message: prometheus.WriteRequest
";

/// The one resource of every side: `job` and `instance`, and attributes for
/// `target_info`, one with a key outside ASCII.
fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("cart")
        .with_attribute(KeyValue::new("service.namespace", "shop"))
        .with_attribute(KeyValue::new("service.instance.id", "cart-1"))
        .with_attribute(KeyValue::new("deployment.environment.name", "test"))
        .with_attribute(KeyValue::new("région", "Île-de-France"))
        .build()
}

/// The scope of most instruments: name, version, schema URL and an attribute.
fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("parity.lib")
        .with_version("1.2.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([KeyValue::new("scope.kind", "library")])
        .build()
}

/// The naming cases, recorded once into `meter` (scope [`scope`]) and `other` (a second
/// library with a same-named instrument).
fn record(meter: &Meter, other: &Meter) {
    let route = KeyValue::new("http.route", "/cart");
    // Units and their suffixes.
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    duration.record(
        0.25,
        &[route.clone(), KeyValue::new("http.request.method", "GET")],
    );
    meter
        .u64_counter("kafka.bytes.sent")
        .with_unit("By")
        .build()
        .add(10, &[KeyValue::new("topic", "orders")]);
    meter
        .u64_counter("gc.pause")
        .with_unit("ms")
        .build()
        .add(3, &[]);
    meter
        .f64_gauge("net.rate")
        .with_unit("By/s")
        .build()
        .record(1.5, &[]);
    meter
        .u64_gauge("heap.size")
        .with_unit("KiBy")
        .build()
        .record(4, &[]);
    meter
        .i64_up_down_counter("requests.active")
        .with_unit("{request}")
        .build()
        .add(2, std::slice::from_ref(&route));
    // `_total`: already there, at the front, none on a unit-1 counter.
    meter.u64_counter("jobs_total").build().add(1, &[]);
    meter.u64_counter("total.requests").build().add(1, &[]);
    meter
        .u64_counter("MyCounter")
        .with_unit("1")
        .build()
        .add(1, &[]);
    // `ratio`: added to a unit-1 gauge, not twice.
    meter
        .f64_gauge("cpu.utilization")
        .with_unit("1")
        .build()
        .record(0.5, &[KeyValue::new("cpu.mode", "idle")]);
    meter
        .f64_gauge("disk.ratio")
        .with_unit("1")
        .build()
        .record(0.25, &[]);
    // Dots and runs of other characters, in names and keys; a leading digit and a
    // leading underscore in keys; non-ASCII keys and values.
    meter
        .u64_counter("http..client--calls")
        .build()
        .add(1, &[KeyValue::new("net..peer--name", "db")]);
    meter.u64_counter("keys").build().add(
        1,
        &[
            KeyValue::new("größe", "groß"),
            KeyValue::new("город.id", "Москва"),
            KeyValue::new("2xx", "yes"),
            KeyValue::new("_private", "p"),
            KeyValue::new("city", "Zürich"),
        ],
    );
    // Scope: the same instrument in a second library.
    meter.u64_counter("shared.events").build().add(1, &[]);
    other.u64_counter("shared.events").build().add(2, &[]);
    // Non-ASCII names, which only a view can give (see [`renames`]).
    meter
        .u64_counter("bytes.read")
        .with_unit("By")
        .build()
        .add(7, &[]);
    meter
        .f64_histogram("request.size")
        .with_unit("By")
        .with_boundaries(vec![1.0])
        .build()
        .record(2.0, &[]);
    meter
        .f64_gauge("queue.fill")
        .with_unit("1")
        .build()
        .record(0.75, &[]);
    meter.u64_counter("requests.handled").build().add(5, &[]);
}

/// The view of every side, one closure written once for both crates' `Instrument` and
/// `Stream` (their view API has the same shape): renames to names with dots and
/// characters outside ASCII, which the API refuses in instrument names but a view may
/// give (the specification exempts stream names from the syntax).
macro_rules! renames {
    ($instrument:ty, $stream:ty) => {
        |i: &$instrument| -> Option<$stream> {
            match i.name() {
                // A unit word already among the name's tokens.
                "bytes.read" => <$stream>::builder().with_name("größe.bytes").build().ok(),
                // A unit set by the view.
                "request.size" => <$stream>::builder()
                    .with_name("größe.anfrage")
                    .with_unit("KiBy")
                    .build()
                    .ok(),
                // Nothing but the `ratio` suffix left from the name.
                "queue.fill" => <$stream>::builder()
                    .with_name("очередь.заполнение")
                    .build()
                    .ok(),
                // Nothing but the `total` suffix left from the name.
                "requests.handled" => <$stream>::builder()
                    .with_name("запросы.обработано")
                    .build()
                    .ok(),
                _ => None,
            }
        }
    };
}

/// A difference kept as allowed: the side it is on, what it is, why, and how it is
/// taken out of that side's series (or of (a)'s, when (a) has something the side
/// lacks) before the sets are compared. Each must still change something: a
/// difference that goes away fails the test, so the list stays true.
struct Allowed {
    side: &'static str,
    what: &'static str,
    why: &'static str,
    /// Applied to (a)'s series when `on_a`, else to the side's.
    on_a: bool,
    rewrite: fn(&mut BTreeMap<String, String>),
}

/// (c) writes no schema URL, whatever the strategy.
const NO_SCHEMA_URL_ON_C: Allowed = Allowed {
    side: "c",
    what: "no `otel_scope_schema_url` label",
    why: "the Collector's exporter (contrib v0.165.1) writes the scope's name, version \
          and attributes as labels but not its schema URL; Prometheus' receiver and \
          prompush write all four, as the compatibility specification lists them",
    on_a: true,
    rewrite: |labels| {
        labels.remove("otel_scope_schema_url");
    },
};

/// The differences that remain with the configurations above.
const ALLOWED: &[Allowed] = &[
    NO_SCHEMA_URL_ON_C,
    Allowed {
        side: "c",
        what: "label names keep runs of `_` (`net..peer--name` → `net__peer__name`, \
               `größe` → `gr__e`)",
        why: "the Collector's exporter builds label names with the translator's \
              `PreserveMultipleUnderscores: true`, fixed in its code with no option; \
              prompush, and Prometheus with `label_name_preserve_multiple_underscores: \
              false`, collapse them as the specification's sanitisation does",
        on_a: false,
        rewrite: |labels| {
            *labels = std::mem::take(labels)
                .into_iter()
                .map(|(name, value)| (collapse_underscores(&name), value))
                .collect();
        },
    },
];

/// `name` with every run of `_` made one (`__name__` and other reserved names kept).
fn collapse_underscores(name: &str) -> String {
    if name.starts_with("__") && name.ends_with("__") {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// Labels whose values are each SDK's own name and version.
const OWN_NAME_LABELS: &[&str] = &["telemetry_sdk_name", "telemetry_sdk_version"];

/// `name{label="value",…}` for a stored label set, labels sorted; the values of
/// [`OWN_NAME_LABELS`] replaced by `*`.
fn series_text(labels: &BTreeMap<String, String>) -> String {
    let name = labels.get("__name__").map(String::as_str).unwrap_or("");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| {
            let v = if OWN_NAME_LABELS.contains(&k.as_str()) {
                "*"
            } else {
                v.as_str()
            };
            format!("{k}={v:?}")
        })
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

/// Every series `server` stores (label sets); waits (at most 20 s) until it stores any
/// (the Collector forwards after its answer) and two reads 100 ms apart agree.
async fn stored(server: &Server) -> Vec<BTreeMap<String, String>> {
    let started = Instant::now();
    let mut last = Vec::new();
    loop {
        let mut now = server.series(r#"{__name__=~".+"}"#).await;
        now.sort();
        if !now.is_empty() && now == last {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} stored {} series, still changing:\n{}",
            server.kind().name(),
            now.len(),
            server.log()
        );
        last = now;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An SDK provider with the OTLP/HTTP exporter (protobuf, no compression, cumulative
/// temporality: the exporter's defaults, written out) to `endpoint`, pushing only when
/// flushed.
fn sdk_with_otlp(endpoint: String) -> SdkMeterProvider {
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .with_temporality(opentelemetry_sdk::metrics::Temporality::Cumulative)
        .build()
        .expect("OTLP exporter");
    SdkMeterProvider::builder()
        .with_resource(resource())
        .with_view(renames!(
            opentelemetry_sdk::metrics::Instrument,
            opentelemetry_sdk::metrics::Stream
        ))
        .with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(HOUR)
                .build(),
        )
        .build()
}

/// Compares `side`'s series with (a)'s after the side's allowed differences are taken
/// out; returns the lines that differ (`a not b: …`, `b not a: …`), empty when they
/// agree, and says of each allowed difference that no longer changes anything.
fn compare(
    side: &str,
    allowed: &[Allowed],
    a: &[BTreeMap<String, String>],
    other: &[BTreeMap<String, String>],
) -> Vec<String> {
    let mut a: Vec<BTreeMap<String, String>> = a.to_vec();
    let mut other: Vec<BTreeMap<String, String>> = other.to_vec();
    let mut lines = Vec::new();
    for allowed in allowed.iter().filter(|d| d.side == side) {
        let target = if allowed.on_a { &mut a } else { &mut other };
        let before = target.clone();
        target.iter_mut().for_each(allowed.rewrite);
        if *target == before {
            lines.push(format!(
                "allowed difference gone on ({side}): {} (allowed because {})",
                allowed.what, allowed.why
            ));
        }
    }
    let a: BTreeSet<String> = a.iter().map(series_text).collect();
    let other: BTreeSet<String> = other.iter().map(series_text).collect();
    lines.extend(a.difference(&other).map(|s| format!("a not {side}: {s}")));
    lines.extend(other.difference(&a).map(|s| format!("{side} not a: {s}")));
    lines
}

/// The three sides, each into a Prometheus 3 of its own (so a series is where it is
/// because of its own path), the peers configured as pinned above, and one application
/// per side: prompush, and the SDK with the OTLP exporter twice.
struct Sides {
    /// (a), (b), (c)'s servers.
    prom: [Server; 3],
    collector: Collector,
    prompush: MeterProvider,
    sdk_b: SdkMeterProvider,
    sdk_c: SdkMeterProvider,
}

impl Sides {
    /// The sides with the default strategy: (a) over remote write 1.0.
    async fn start() -> Sides {
        Sides::start_with(NameTranslation::UnderscoreEscapingWithSuffixes).await
    }

    /// The sides with `strategy` on all three: prompush's (over remote write 2.0 for a
    /// UTF-8 one, which 1.0 cannot carry), Prometheus' `translation_strategy` and the
    /// Collector exporter's, otherwise as pinned above.
    async fn start_with(strategy: NameTranslation) -> Sides {
        let name = format!("{strategy:?}");
        let escaped = "UnderscoreEscapingWithSuffixes";
        let (a, b, c) = tokio::join!(
            Server::start(Kind::Prometheus3),
            Server::builder(Kind::Prometheus3)
                .otlp(&PROMETHEUS_OTLP.replace(escaped, &name))
                .start(),
            Server::start(Kind::Prometheus3),
        );
        let escaping = strategy == NameTranslation::UnderscoreEscapingWithSuffixes;
        let mut exporter = COLLECTOR_EXPORTER.replace(escaped, &name);
        let mut gates = Vec::new();
        if !escaping {
            // The exporter refuses a UTF-8 strategy over 1.0, as prompush does, and
            // sends 2.0 only behind a feature gate.
            exporter =
                exporter.replace("prometheus.WriteRequest", "io.prometheus.write.v2.Request");
            gates.push("exporter.prometheusremotewritexporter.enableSendingRW2");
        }
        let collector = Collector::start(
            &format!("endpoint: {}\n{exporter}", c.remote_write_url()),
            &gates,
        )
        .await;
        let builder = MeterProvider::builder();
        let builder = if escaping {
            builder.with_endpoint(a.remote_write_url())
        } else {
            builder.with_destination(
                Destination::remote_write_v2("a", a.remote_write_url())
                    .with_name_translation(strategy),
            )
        };
        let prompush = builder
            .with_resource(resource())
            .with_view(renames!(prompush::view::Instrument, prompush::view::Stream))
            .with_push_interval(HOUR)
            .with_self_metrics(false)
            .build()
            .expect("provider");
        let sdk_b = sdk_with_otlp(b.otlp_url());
        let sdk_c = sdk_with_otlp(collector.otlp_url());
        Sides {
            prom: [a, b, c],
            collector,
            prompush,
            sdk_b,
            sdk_c,
        }
    }

    /// Runs `record` against each side's meters: the one of [`scope`], and another
    /// library's.
    fn record(&self, record: impl Fn(&Meter, &Meter)) {
        record(
            &self.prompush.meter_with_scope(scope()),
            &self.prompush.meter("other.lib"),
        );
        for sdk in [&self.sdk_b, &self.sdk_c] {
            record(&sdk.meter_with_scope(scope()), &sdk.meter("other.lib"));
        }
    }

    /// Pushes each side once, all at the same time; each side's outcome.
    async fn flush(&self) -> [Result<(), String>; 3] {
        let (a, b, c) = (
            self.prompush.clone(),
            self.sdk_b.clone(),
            self.sdk_c.clone(),
        );
        let (a, b, c) = tokio::join!(
            blocking(move || a.force_flush().map_err(|e| e.to_string())),
            blocking(move || b.force_flush().map_err(|e| e.to_string())),
            blocking(move || c.force_flush().map_err(|e| e.to_string())),
        );
        [a, b, c]
    }

    /// Stops the applications while their servers still run.
    async fn shut_down(self) {
        let Sides {
            prompush,
            sdk_b,
            sdk_c,
            ..
        } = self;
        let _ = blocking(move || prompush.shutdown()).await;
        let _ = blocking(move || sdk_b.shutdown()).await;
        let _ = blocking(move || sdk_c.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 and the Collector (scripts/build-peers); run scripts/test"]
async fn the_naming_cases_store_the_same_series_through_prompush_otlp_and_the_collector() {
    let sides = Sides::start().await;
    let [prom_a, prom_b, prom_c] = &sides.prom;
    sides.record(record);
    let [ra, rb, rc] = sides.flush().await;
    ra.expect("(a) pushed");
    rb.unwrap_or_else(|e| panic!("(b) exported: {e}\n--- prometheus ---\n{}", prom_b.log()));
    rc.unwrap_or_else(|e| {
        panic!(
            "(c) exported: {e}\n--- otelcol ---\n{}",
            sides.collector.log()
        )
    });

    let (a, b, c) = tokio::join!(stored(prom_a), stored(prom_b), stored(prom_c));
    // The views applied (on every side, since the sides agree below): the renamed
    // names, escaped, and none of the instruments' own.
    let names: BTreeSet<&str> = a.iter().map(|labels| labels["__name__"].as_str()).collect();
    for renamed in [
        "gr_e_bytes_total",
        "gr_e_anfrage_kibibytes_count",
        "ratio",
        "total",
    ] {
        assert!(names.contains(renamed), "{renamed} not in {names:?}");
    }
    assert!(!names.contains("bytes_read_total"), "{names:?}");
    let mut differences = compare("b", ALLOWED, &a, &b);
    differences.extend(compare("c", ALLOWED, &a, &c));
    assert!(
        differences.is_empty(),
        "series differ beyond the allowed differences:\n{}\n(a) stores:\n{}",
        differences.join("\n"),
        a.iter().map(series_text).collect::<Vec<_>>().join("\n")
    );
    sides.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 and the Collector (scripts/build-peers); run scripts/test"]
async fn a_key_with_no_ascii_letter_or_digit_is_left_out_by_prompush_and_refused_by_the_otlp_receiver(
) {
    let sides = Sides::start().await;
    let [prom_a, prom_b, prom_c] = &sides.prom;
    sides.record(|meter, _| {
        meter.u64_counter("orders").build().add(
            1,
            &[KeyValue::new("город", "Москва"), KeyValue::new("ok", "1")],
        );
    });
    let [ra, rb, rc] = sides.flush().await;

    // (a): the label is left out, the series kept (see the guide's "How names are
    // translated").
    ra.expect("(a) pushed");
    let a = stored(prom_a).await;
    let orders: Vec<String> = a
        .iter()
        .filter(|labels| labels["__name__"] == "orders_total")
        .map(series_text)
        .collect();
    assert_eq!(
        orders,
        [concat!(
            r#"orders_total{instance="cart-1",job="shop/cart",ok="1","#,
            r#"otel_scope_name="parity.lib","#,
            r#"otel_scope_schema_url="https://opentelemetry.io/schemas/1.26.0","#,
            r#"otel_scope_scope_kind="library",otel_scope_version="1.2.3"}"#
        )]
    );
    // (b): Prometheus refuses the whole request ("normalization for label name
    // \"город\" resulted in invalid name"): nothing of it is stored.
    assert!(rb.is_err(), "(b) exported: {rb:?}");
    assert_eq!(prom_b.series(r#"{__name__=~".+"}"#).await, Vec::new());
    // (c): the Collector accepts, then drops the metric whose label it cannot name;
    // `target_info`, sent in the same remote-write request, arrives alone.
    rc.expect("(c) exported");
    let c = stored(prom_c).await;
    assert_eq!(c.len(), 1, "target_info alone: {c:?}");
    assert_eq!(c[0]["__name__"], "target_info");
    sides.shut_down().await;
}

/// The differences that remain with `NoUTF8EscapingWithSuffixes` on every side: label
/// names are kept as they are, so the Collector's runs of `_` do not arise.
const ALLOWED_UTF8: &[Allowed] = &[NO_SCHEMA_URL_ON_C];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 and the Collector (scripts/build-peers); run scripts/test"]
async fn the_naming_cases_store_the_same_utf8_series_through_remote_write_2_otlp_and_the_collector()
{
    let sides = Sides::start_with(NameTranslation::NoUTF8EscapingWithSuffixes).await;
    let [prom_a, prom_b, prom_c] = &sides.prom;
    sides.record(record);
    let [ra, rb, rc] = sides.flush().await;
    ra.expect("(a) pushed");
    rb.unwrap_or_else(|e| panic!("(b) exported: {e}\n--- prometheus ---\n{}", prom_b.log()));
    rc.unwrap_or_else(|e| {
        panic!(
            "(c) exported: {e}\n--- otelcol ---\n{}",
            sides.collector.log()
        )
    });

    let (a, b, c) = tokio::join!(stored(prom_a), stored(prom_b), stored(prom_c));
    // The strategy and the views applied: names as OpenTelemetry spells them, with
    // suffixes added by the UTF-8 rule (unit word unless the name ends with it).
    let names: BTreeSet<&str> = a.iter().map(|labels| labels["__name__"].as_str()).collect();
    for utf8 in [
        "größe.bytes_total",
        "запросы.обработано_total",
        "kafka.bytes.sent_bytes_total",
        "disk_ratio",
    ] {
        assert!(names.contains(utf8), "{utf8} not in {names:?}");
    }
    let mut differences = compare("b", ALLOWED_UTF8, &a, &b);
    differences.extend(compare("c", ALLOWED_UTF8, &a, &c));
    assert!(
        differences.is_empty(),
        "series differ beyond the allowed differences:\n{}\n(a) stores:\n{}",
        differences.join("\n"),
        a.iter().map(series_text).collect::<Vec<_>>().join("\n")
    );
    sides.shut_down().await;
}
