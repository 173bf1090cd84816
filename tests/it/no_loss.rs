//! No sample lost to one bad series, over loopback: prompush's own receiver refuses every
//! request that holds one chosen series (as Prometheus refuses a whole request for one
//! out-of-order sample), and every other series must still arrive, exactly once, with
//! its exact value, within a bounded number of extra requests. The same shapes against
//! a real Prometheus are in `tests/real/no_loss.rs`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::{BTreeMap, BTreeSet};

use opentelemetry::KeyValue;
use prompush::receiver::{Received, ReceivedSample, ReceivedSeries, Receiver, Reply};
use prompush::Error;

use crate::support::presets::{flush_from_threads, flushed_by_hand};

/// The counter's series: `orders_total{id="0"}` … `{id="199"}`, `id=i` holding `i + 1`.
const SERIES: u64 = 200;
const MAX_SAMPLES_PER_SEND: usize = 50;
/// The series the receiver refuses.
const REFUSED_ID: &str = "137";

/// Every request already answered (a force_flush has returned: all of its push's
/// requests were answered, and the receiver hands a request over before answering it).
fn answered(receiver: &mut Receiver) -> Vec<Received> {
    std::iter::from_fn(|| receiver.try_recv()).collect()
}

/// A series' identity: its name and labels, without samples.
fn identity(series: &ReceivedSeries) -> String {
    let mut bare = series.clone();
    bare.samples.clear();
    bare.to_string()
}

fn is_refused(series: &ReceivedSeries) -> bool {
    series.name == "orders_total" && series.label("id") == Some(REFUSED_ID)
}

/// The self-metric `prompush_samples_dropped_total{reason=…}` among accepted requests.
fn dropped(requests: &[Received], reason: &str) -> Option<f64> {
    requests
        .iter()
        .filter(|r| r.is_accepted())
        .flat_map(|r| &r.request.series)
        .find(|s| s.name == "prompush_samples_dropped_total" && s.label("reason") == Some(reason))
        .and_then(ReceivedSeries::value)
}

#[test]
fn one_refused_series_costs_only_itself_and_every_other_series_arrives_exactly_once() {
    let mut receiver = Receiver::start().expect("binds");
    receiver.refuse_series_where(is_refused, Reply::status(400).body("out of order sample"));
    let provider = flushed_by_hand(receiver.url(), "no-loss")
        .with_self_metrics(true)
        .with_max_samples_per_send(MAX_SAMPLES_PER_SEND)
        .build()
        .expect("provider");
    let orders = provider.meter("shop").u64_counter("orders").build();
    for id in 0..SERIES {
        orders.add(id + 1, &[KeyValue::new("id", id.to_string())]);
    }

    // The refusal is reported to the caller.
    let error = provider
        .force_flush()
        .expect_err("the refused series is reported");
    let text = error.to_string();
    assert!(
        matches!(&error, Error::Push(_)) && text.contains("400") && text.contains("out of order"),
        "{error:?}"
    );

    let requests = answered(&mut receiver);
    // Every other series arrived in exactly one accepted request, with its exact value;
    // the refused one in none.
    let mut arrivals: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for series in requests
        .iter()
        .filter(|r| r.is_accepted())
        .flat_map(|r| &r.request.series)
        .filter(|s| s.name == "orders_total")
    {
        let id = series.label("id").unwrap_or_default().to_owned();
        let value = series.value().unwrap_or(f64::NAN);
        arrivals.entry(id).or_default().push(value);
    }
    let missing: Vec<u64> = (0..SERIES)
        .filter(|id| id.to_string() != REFUSED_ID && !arrivals.contains_key(&id.to_string()))
        .collect();
    let wrong: Vec<(&String, &Vec<f64>)> = arrivals
        .iter()
        .filter(|(id, values)| {
            let want = id.parse::<f64>().expect("numeric id") + 1.0;
            *id == REFUSED_ID || **values != [want]
        })
        .collect();
    assert!(
        missing.is_empty() && wrong.is_empty(),
        "{} series never arrived: ids {missing:?}; arrived refused, with a wrong value or \
         more than once: {wrong:?}",
        missing.len()
    );
    assert!(
        requests
            .iter()
            .filter(|r| !r.is_accepted())
            .all(|r| r.status == 400 && r.request.series.iter().any(is_refused)),
        "only requests holding the refused series are refused"
    );

    // Bounded resends: the push's own requests plus a budget of about 4·log2(n) + 8
    // for the one request that held the refused series.
    let samples: BTreeSet<String> = requests
        .iter()
        .flat_map(|r| &r.request.series)
        .map(identity)
        .collect();
    let original = samples.len().div_ceil(MAX_SAMPLES_PER_SEND);
    let budget = (4.0 * (MAX_SAMPLES_PER_SEND as f64).log2()).ceil() as usize + 8;
    assert!(
        requests.len() <= original + budget,
        "{} requests for {} series in requests of {MAX_SAMPLES_PER_SEND}: more than \
         {original} + {budget}",
        requests.len(),
        samples.len()
    );

    // The next push counts exactly the refused series' one sample as dropped, and, the
    // refusal lifted, delivers that series too.
    receiver.clear_refusals();
    provider.force_flush().expect("nothing is refused any more");
    let next = answered(&mut receiver);
    assert!(next.iter().all(Received::is_accepted));
    assert_eq!(dropped(&next, "refused"), Some(1.0));
    let refused_now: Vec<Option<f64>> = next
        .iter()
        .flat_map(|r| &r.request.series)
        .filter(|s| is_refused(s))
        .map(ReceivedSeries::value)
        .collect();
    assert_eq!(refused_now, vec![Some(138.0)]);
    provider.shutdown().expect("final push accepted");
}

#[test]
fn flushes_from_many_threads_at_once_carry_strictly_increasing_timestamps() {
    let mut receiver = Receiver::start().expect("binds");
    let provider = flushed_by_hand(receiver.url(), "quick")
        .build()
        .expect("provider");
    let flushes = provider.meter("quick").u64_counter("quick.flushes").build();
    let failed = flush_from_threads(&provider, &flushes, 4, 15);
    assert!(failed.is_empty(), "{failed:?}");
    // Flushes that meet may share a push: count values, not pushes. A last flush after
    // every increment carries the exact total.
    provider.force_flush().expect("last push accepted");
    let samples: Vec<ReceivedSample> = answered(&mut receiver)
        .iter()
        .flat_map(|r| &r.request.series)
        .filter(|s| s.name == "quick_flushes_total")
        .flat_map(|s| s.samples.iter().copied())
        .collect();
    let timestamps: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
    let repeats: Vec<&[i64]> = timestamps.windows(2).filter(|w| w[0] >= w[1]).collect();
    assert!(repeats.is_empty(), "timestamps not increasing: {repeats:?}");
    assert_eq!(samples.last().map(|s| s.value), Some(60.0));
    provider.shutdown().expect("final push accepted");
}

#[test]
fn a_push_never_holds_one_series_twice() {
    let mut receiver = Receiver::start().expect("binds");
    let provider = flushed_by_hand(receiver.url(), "merge")
        .build()
        .expect("provider");
    let meter = provider.meter("merge");
    let requests = meter.u64_counter("merge.requests").build();
    requests.add(1, &[]);
    requests.add(5, &[KeyValue::new("route", "")]);
    let keys = meter.u64_counter("merge.keys").build();
    keys.add(2, &[KeyValue::new("a.b", "x")]);
    keys.add(3, &[KeyValue::new("a_b", "x")]);
    // Two libraries, one instrument name: two series, told apart by their scope.
    provider
        .meter("lib-a")
        .u64_counter("http.client.requests")
        .build()
        .add(3, &[]);
    provider
        .meter("lib-b")
        .u64_counter("http.client.requests")
        .build()
        .add(5, &[]);
    provider.force_flush().expect("push accepted");

    let series: Vec<ReceivedSeries> = answered(&mut receiver)
        .into_iter()
        .flat_map(|r| r.request.series)
        .collect();
    let mut seen = BTreeSet::new();
    let twice: Vec<String> = series
        .iter()
        .map(identity)
        .filter(|id| !seen.insert(id.clone()))
        .collect();
    assert!(twice.is_empty(), "sent twice in one push: {twice:?}");
    let value = |name: &str, label: Option<(&str, &str)>| -> Vec<f64> {
        series
            .iter()
            .filter(|s| s.name == name && label.is_none_or(|(k, v)| s.label(k) == Some(v)))
            .filter_map(ReceivedSeries::value)
            .collect()
    };
    assert_eq!(value("merge_requests_total", None), vec![6.0]);
    assert_eq!(value("merge_keys_total", Some(("a_b", "x"))), vec![5.0]);
    let scope = |name| Some(("otel_scope_name", name));
    assert_eq!(
        value("http_client_requests_total", scope("lib-a")),
        vec![3.0]
    );
    assert_eq!(
        value("http_client_requests_total", scope("lib-b")),
        vec![5.0]
    );
    provider.shutdown().expect("final push accepted");
}
