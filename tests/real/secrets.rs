//! Credentials against a real `vmauth` in front of a real VictoriaMetrics: good bearer
//! and basic credentials deliver exact values; a wrong token or password is refused with
//! a clear error, and although vmauth quotes the refused credential in its answer,
//! neither the error (`Display`, `Debug`) nor any log line repeats it, raw, Go-quoted or
//! base64. Each case runs on the current vmauth and VictoriaMetrics and on 1.79. Run
//! with `scripts/test`, which builds the current ones and installs the
//! `victoria-metrics` package (vmauth included).

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::{Duration, Instant};

use base64::Engine as _;
use prompush::{Error, MeterProvider};

use crate::servers::vmauth::{Vmauth, VmauthUser};
use crate::servers::{single_value, Kind, Server};
use crate::support::logs::LogCapture;
use crate::support::presets::{flush, pushing_to, service_named, shutdown};

const DEADLINE: Duration = Duration::from_secs(20);

const GOOD_TOKEN: &str = "bearer-good-7f3a9c21";
const USER: &str = "pusher";
const GOOD_PASSWORD: &str = "basic-good-4e8d0b56";
// Wrong ones carry `"` and `\`, which vmauth's Go `%q` escapes.
const WRONG_TOKEN: &str = r#"bearer-wrong-"5c\2e91"#;
const WRONG_PASSWORD: &str = r#"basic-wrong-"d7\0a33"#;

/// VictoriaMetrics behind a vmauth that knows `GOOD_TOKEN` and `USER`/`GOOD_PASSWORD`.
async fn start_servers(kind: Kind) -> (Server, Vmauth) {
    let victoria = Server::start(kind).await;
    let users = [
        VmauthUser::Bearer(GOOD_TOKEN),
        VmauthUser::Basic {
            username: USER,
            password: GOOD_PASSWORD,
        },
    ];
    let vmauth = Vmauth::start(kind, &users, &victoria.base_url()).await;
    (victoria, vmauth)
}

enum Credentials {
    Bearer(&'static str),
    Basic(&'static str),
}

/// A provider pushing through vmauth as `job`, only when flushed.
fn provider(vmauth: &Vmauth, job: &str, credentials: &Credentials) -> MeterProvider {
    let builder = pushing_to(vmauth.remote_write_url())
        .with_resource(service_named(job))
        .with_self_metrics(false);
    match credentials {
        Credentials::Bearer(token) => builder.with_bearer_token(*token),
        Credentials::Basic(password) => builder.with_basic_auth(USER, *password),
    }
    .build()
    .expect("valid provider")
}

/// The forms in which a credential must never show: raw, as Go's `%q` (and Rust's
/// `Debug`) escape it, and for basic auth the base64 of `user:password` that goes on
/// the wire.
fn forms(credentials: &Credentials) -> Vec<String> {
    let escaped = |s: &str| s.replace('\\', r"\\").replace('"', r#"\""#);
    match credentials {
        Credentials::Bearer(token) => vec![token.to_string(), escaped(token)],
        Credentials::Basic(password) => vec![
            password.to_string(),
            escaped(password),
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}")),
        ],
    }
}

fn assert_no_secret(texts: &[&str], credentials: &Credentials) {
    for text in texts {
        for form in forms(credentials) {
            assert!(!text.contains(&form), "{form:?} leaked in:\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs current vmauth and VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn good_bearer_and_basic_credentials_deliver_exact_values_through_current_vmauth() {
    good_credentials_deliver_exact_values(Kind::VictoriaMetrics).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs vmauth and VictoriaMetrics 1.79; run scripts/test"]
async fn good_bearer_and_basic_credentials_deliver_exact_values_through_vmauth_1_79() {
    good_credentials_deliver_exact_values(Kind::VictoriaMetrics1_79).await;
}

async fn good_credentials_deliver_exact_values(kind: Kind) {
    let logs = LogCapture::start();
    let (victoria, vmauth) = start_servers(kind).await;
    let cases = [
        ("via_bearer", Credentials::Bearer(GOOD_TOKEN), 7u64),
        ("via_basic", Credentials::Basic(GOOD_PASSWORD), 11),
    ];
    for (job, credentials, value) in &cases {
        let provider = provider(&vmauth, job, credentials);
        let deliveries = provider.meter("secrets").u64_counter("deliveries").build();
        deliveries.add(*value, &[]);
        let flushed = flush(&provider).await;
        assert!(flushed.is_ok(), "{job}: {flushed:?}\n{}", vmauth.log());
        let promql = format!(r#"deliveries_total{{job="{job}"}}"#);
        let want = Some(*value as f64);
        let result = victoria
            .wait_for(&promql, |r| single_value(r) == want, DEADLINE)
            .await;
        assert_eq!(single_value(&result), want, "{job}: {result}");
        shutdown(&provider).await.expect("clean shutdown");
    }
    let logs = logs.text();
    for (_, credentials, _) in &cases {
        assert_no_secret(&[&logs], credentials);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs current vmauth and VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn current_vmauth_refuses_a_wrong_token_or_password_clearly_without_it_repeated() {
    wrong_credentials_are_refused_without_repeating_them(Kind::VictoriaMetrics).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs vmauth and VictoriaMetrics 1.79; run scripts/test"]
async fn vmauth_1_79_refuses_a_wrong_token_or_password_clearly_without_it_repeated() {
    wrong_credentials_are_refused_without_repeating_them(Kind::VictoriaMetrics1_79).await;
}

async fn wrong_credentials_are_refused_without_repeating_them(kind: Kind) {
    let logs = LogCapture::start();
    let (victoria, vmauth) = start_servers(kind).await;
    let cases = [
        ("wrong_bearer", Credentials::Bearer(WRONG_TOKEN)),
        ("wrong_basic", Credentials::Basic(WRONG_PASSWORD)),
    ];
    for (job, credentials) in &cases {
        let provider = provider(&vmauth, job, credentials);
        provider
            .meter("secrets")
            .u64_counter("deliveries")
            .build()
            .add(1, &[]);
        let started = Instant::now();
        let error = flush(&provider)
            .await
            .expect_err("vmauth refuses an unknown credential");
        // A refusal, not retried until the flush gives up.
        assert!(started.elapsed() < Duration::from_secs(10), "{error}");
        let (shown, debug) = (error.to_string(), format!("{error:?}"));
        assert!(matches!(error, Error::Push(_)), "{debug}");
        // vmauth 1.79 answers an unknown credential 400, not 401, quoting it; the
        // message says which header was wrong, with the credential itself redacted. The
        // current vmauth answers 401 without repeating it; prompush adds what to check.
        let useful = match kind {
            Kind::VictoriaMetrics1_79 => format!(
                "{} answered 400 Bad Request: cannot find the provided auth token \"<redacted>\" \
                 in config",
                vmauth.remote_write_url()
            ),
            _ => format!(
                "{} answered 401 Unauthorized: Unauthorized (check the destination's \
                 credentials)",
                vmauth.remote_write_url()
            ),
        };
        assert!(shown.contains(&useful), "{job}: {shown}");
        let shutdown = format!("{:?}", shutdown(&provider).await);
        let logs = logs.text();
        assert!(
            logs.contains(&useful),
            "{job}: the refusal was logged: {logs}"
        );
        assert_no_secret(&[&shown, &debug, &shutdown, &logs], credentials);
    }
    let stored = victoria.query("deliveries_total").await;
    assert_eq!(stored, serde_json::json!([]), "nothing got through");
}
