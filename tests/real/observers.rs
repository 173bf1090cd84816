//! The process and host observers (`prompush::process`, `prompush::system`) as a real
//! Prometheus stores them: every family under its name, with plausible values. The
//! loopback version is in `tests/it/observers.rs`.

// Linux: the only platform with every metric. The support needs the default `receiver`.
#![cfg(all(feature = "receiver", feature = "observers", target_os = "linux"))]

use std::collections::BTreeSet;

use crate::servers::stored::query_until;
use crate::servers::{single_value, Kind, Server};
use crate::support::observed::{logical_cpus, observed, FAMILIES, WINDOW};
use crate::support::presets::{flush, pushing_to, service_named, shutdown};
use crate::support::proc::resident_bytes;

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_stores_every_metric_under_its_name_with_plausible_values() {
    let prometheus = Server::start(Kind::Prometheus3).await;
    let builder = pushing_to(prometheus.remote_write_url());
    let (provider, _observers) = observed(builder.with_resource(service_named("observers")));
    let resident = resident_bytes().unwrap() as f64;
    tokio::time::sleep(WINDOW).await;
    flush(&provider).await.unwrap();

    let names = r#"count by (__name__) ({job="observers"})"#;
    let stored = query_until(&prometheus, names, |r| {
        r.as_array().is_some_and(|a| a.len() > 1)
    })
    .await;
    let got: BTreeSet<&str> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["__name__"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = FAMILIES.iter().map(|(name, ..)| *name).collect();
    assert_eq!(got, want);

    let one = |promql: &'static str| {
        let prometheus = &prometheus;
        async move {
            let result = query_until(prometheus, promql, |r| single_value(r).is_some()).await;
            single_value(&result).unwrap_or_else(|| panic!("{promql}: {result}"))
        }
    };
    let rss = one(r#"process_memory_usage_bytes{job="observers"}"#).await;
    assert!(
        (rss / resident - 1.0).abs() < 0.2,
        "RSS {rss} against VmRSS {resident}"
    );
    assert!(one(r#"process_cpu_time_seconds_total{cpu_mode="user"}"#).await > 0.0);
    assert!(one("process_thread_count").await >= 1.0);
    assert!(one("process_unix_file_descriptor_count").await >= 3.0);
    assert!(one(r#"process_paging_faults_total{system_paging_fault_type="minor"}"#).await > 0.0);
    let uptime = one("process_uptime_seconds").await;
    assert!(uptime > 0.0 && uptime < 86_400.0 * 365.0, "{uptime}");
    assert_eq!(one("system_cpu_logical_count").await, logical_cpus() as f64);
    assert!(one(r#"system_cpu_time_seconds_total{cpu_mode="idle"}"#).await > 0.0);
    let used = one(r#"system_memory_utilization_ratio{system_memory_state="used"}"#).await;
    assert!(used > 0.0 && used < 1.0, "{used}");
    let total = one(r#"sum(system_memory_usage_bytes{system_memory_state=~"used|free"})"#).await;
    assert!(
        total > rss,
        "the host has more memory than this process uses"
    );
    shutdown(&provider).await.unwrap();
}
