use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use reqwest::StatusCode;

use super::*;
use crate::receiver::{Received, Receiver, Reply};
use crate::transport::config::Auth;
use crate::transport::{Protocol, Secret, TransportConfig};

const TOKEN: &str = "tok-9f8e7d-SECRET";

fn sender(endpoint: &str, timeout: Duration) -> HttpSender {
    let config = TransportConfig {
        endpoint: Some(endpoint.to_owned()),
        auth: Some(Auth::Bearer(Secret::new(TOKEN))),
        headers: vec![("X-Scope-OrgID".to_owned(), "tenant-a".to_owned())],
        timeout,
        ..TransportConfig::default()
    };
    test_sender(config, Protocol::RemoteWrite)
}

fn json_sender(endpoint: &str) -> HttpSender {
    let config = TransportConfig {
        endpoint: Some(endpoint.to_owned()),
        auth: Some(Auth::Raw(Secret::new(TOKEN))),
        ..TransportConfig::default()
    };
    test_sender(config, Protocol::UnleashJson)
}

/// Every test is bounded even if the sender misbehaves.
async fn send(sender: &HttpSender, body: &'static [u8]) -> SendOutcome {
    tokio::time::timeout(Duration::from_secs(20), sender.send(body))
        .await
        .expect("send finished within 20 s")
}

/// A receiver answering `replies` in order (then its usual 204).
async fn receiver(replies: impl IntoIterator<Item = Reply>) -> Receiver {
    let receiver = Receiver::bind().await.expect("binds loopback");
    for reply in replies {
        receiver.reply_next(1, reply);
    }
    receiver
}

/// `http://<receiver>/<path>`.
fn url(receiver: &Receiver, path: &str) -> String {
    format!("http://{}{path}", receiver.addr())
}

/// Every request recorded so far (each is recorded before it is answered).
fn take(receiver: &mut Receiver) -> Vec<Received> {
    std::iter::from_fn(|| receiver.try_recv()).collect()
}

fn retryable(outcome: SendOutcome) -> Failure {
    match outcome {
        SendOutcome::Retryable(failure) => failure,
        other => panic!("expected retryable, got {other:?}"),
    }
}

fn permanent(outcome: SendOutcome) -> Failure {
    match outcome {
        SendOutcome::Permanent(failure) => failure,
        other => panic!("expected permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn sends_protocol_auth_and_extra_headers_and_the_body() {
    let mut server = receiver([Reply::status(204)]).await;
    let sender = sender(&url(&server, "/api/v1/write"), Duration::from_secs(10));

    let outcome = send(&sender, b"\x01snappy-bytes").await;

    assert!(
        matches!(outcome, SendOutcome::Success { status, .. } if status == StatusCode::NO_CONTENT),
        "{outcome:?}"
    );
    let requests = take(&mut server);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/api/v1/write");
    assert_eq!(request.headers.get_all("content-encoding"), ["snappy"]);
    assert_eq!(
        request.headers.get_all("content-type"),
        ["application/x-protobuf"]
    );
    assert_eq!(
        request.headers.get_all("x-prometheus-remote-write-version"),
        ["0.1.0"]
    );
    assert_eq!(
        request.headers.get_all("user-agent"),
        [format!("prompush/{}", env!("CARGO_PKG_VERSION"))]
    );
    assert_eq!(
        request.headers.get_all("authorization"),
        [format!("Bearer {TOKEN}")]
    );
    assert_eq!(request.headers.get_all("x-scope-orgid"), ["tenant-a"]);
    assert_eq!(request.body.as_ref(), b"\x01snappy-bytes");
}

#[tokio::test]
async fn reuses_the_connection_between_pushes() {
    let mut server = receiver([Reply::status(200).body("ok"), Reply::status(204)]).await;
    let sender = sender(&url(&server, "/"), Duration::from_secs(10));

    for _ in 0..2 {
        let outcome = send(&sender, b"x").await;
        assert!(
            matches!(outcome, SendOutcome::Success { .. }),
            "{outcome:?}"
        );
    }

    // One connection: one client address.
    let peers: Vec<_> = take(&mut server).iter().map(|r| r.peer).collect();
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[0], peers[1]);
}

#[tokio::test]
async fn server_errors_are_retryable_with_body_detail() {
    let server = receiver([Reply::status(503).body("tsdb busy")]).await;
    let failure = retryable(send(&sender(&url(&server, "/"), Duration::from_secs(10)), b"x").await);
    assert_eq!(
        failure.kind,
        FailureKind::Status(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(failure.retry_after, None);
    assert_eq!(failure.detail, "tsdb busy");
    assert!(failure.to_string().contains("503"), "{failure}");
}

#[tokio::test]
async fn too_many_requests_is_retryable_and_honours_retry_after() {
    let server = receiver([Reply::status(429)
        .header("Retry-After", "7")
        .body("slow down")])
    .await;
    let failure = retryable(send(&sender(&url(&server, "/"), Duration::from_secs(10)), b"x").await);
    assert_eq!(
        failure.kind,
        FailureKind::Status(StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(failure.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn retry_after_as_http_date_becomes_a_delay() {
    let at = SystemTime::now() + Duration::from_secs(120);
    let server =
        receiver([Reply::status(503).header("Retry-After", httpdate::fmt_http_date(at))]).await;
    let failure = retryable(send(&sender(&url(&server, "/"), Duration::from_secs(10)), b"x").await);
    let wait = failure.retry_after.expect("Retry-After parsed");
    // The date has one-second resolution and some time passed since `at` was computed.
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
}

#[tokio::test]
async fn client_errors_are_permanent_with_the_first_kib_of_the_body() {
    let long_body = format!("out of order sample{}", "x".repeat(4000));
    let server = receiver([Reply::status(400).body(long_body.as_str())]).await;
    let failure = permanent(send(&sender(&url(&server, "/"), Duration::from_secs(10)), b"x").await);
    assert_eq!(failure.kind, FailureKind::Status(StatusCode::BAD_REQUEST));
    assert_eq!(failure.detail.len(), 1024);
    assert!(failure.detail.starts_with("out of order sample"));
    assert!(failure.to_string().contains("400 Bad Request"), "{failure}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let mut server = receiver([
        Reply::status(307).header("Location", "/elsewhere"),
        Reply::status(204),
    ])
    .await;
    let failure = permanent(send(&sender(&url(&server, "/"), Duration::from_secs(10)), b"x").await);
    assert_eq!(
        failure.kind,
        FailureKind::Status(StatusCode::TEMPORARY_REDIRECT)
    );
    assert!(failure.detail.contains("/elsewhere"), "{failure}");
    // A followed redirect would have been recorded before `send` returned.
    let paths: Vec<String> = take(&mut server).into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/"]);
}

#[tokio::test]
async fn timeout_is_retryable() {
    let server = receiver([Reply::hang()]).await;
    let limit = Duration::from_millis(300);
    let failure = retryable(send(&sender(&url(&server, "/"), limit), b"x").await);
    assert_eq!(failure.kind, FailureKind::Timeout(limit));
    assert!(failure.to_string().contains("with_timeout"), "{failure}");
}

#[tokio::test]
async fn connection_refused_is_retryable_and_no_message_leaks_the_token() {
    // Bind then drop: the port is closed, so connecting is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = closed.local_addr().expect("local addr");
    drop(closed);
    let sender = sender(
        &format!("http://{addr}/api/v1/write?tenant=a"),
        Duration::from_secs(10),
    );

    let outcome = send(&sender, b"x").await;
    let outcome_debug = format!("{outcome:?}");
    let failure = retryable(outcome);

    assert_eq!(failure.kind, FailureKind::Connect);
    let shown = failure.to_string();
    assert!(shown.contains(&addr.to_string()), "{shown}");
    assert!(!shown.contains("tenant=a"), "query string shown: {shown}");
    for text in [
        shown,
        outcome_debug,
        format!("{sender:?}"),
        format!("{failure:?}"),
    ] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains("SECRET"), "token leaked: {text}");
    }
}

#[test]
fn parses_retry_after_forms() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let parse = |s: &'static str| parse_retry_after(&HeaderValue::from_static(s), now);
    assert_eq!(parse("0"), Some(Duration::ZERO));
    assert_eq!(parse(" 30 "), Some(Duration::from_secs(30)));
    // 2023-11-14T22:13:20Z is `now`; ten seconds later:
    assert_eq!(
        parse("Tue, 14 Nov 2023 22:13:30 GMT"),
        Some(Duration::from_secs(10))
    );
    // Obsolete RFC 850 form, also required of recipients.
    assert_eq!(
        parse("Tuesday, 14-Nov-23 22:13:30 GMT"),
        Some(Duration::from_secs(10))
    );
    assert_eq!(parse("Tue, 14 Nov 2023 22:00:00 GMT"), Some(Duration::ZERO));
    assert_eq!(parse("-5"), None);
    assert_eq!(parse("soon"), None);
}

#[tokio::test]
async fn a_413_from_remote_write_is_permanent() {
    let server = receiver([Reply::status(413)]).await;
    let sender = sender(&url(&server, "/api/v1/write"), Duration::from_secs(10));
    let failure = permanent(send(&sender, b"x").await);
    assert!(failure.to_string().contains("413"), "{failure}");
}

#[tokio::test]
async fn custom_metrics_json_headers_413_and_error_details() {
    let mut server = receiver([
        Reply::status(202),
        Reply::status(413).body("request entity too large"),
        Reply::status(400).body(
            r#"{"id":"x","name":"BadDataError","message":"Request validation failed","details":[{"message":"metrics[0].value must be a number"}]}"#,
        ),
        Reply::status(401).body(r#"{"message":"You must log in"}"#),
    ])
    .await;
    let sender = json_sender(&url(&server, "/api/client/metrics/custom"));
    assert!(matches!(
        send(&sender, b"{\"metrics\":[]}").await,
        SendOutcome::Success { status, .. } if status == StatusCode::ACCEPTED
    ));
    let requests = take(&mut server);
    let request = &requests[0];
    assert_eq!(request.headers.get_all("authorization"), [TOKEN]);
    assert_eq!(
        request.headers.get_all("content-type"),
        ["application/json"]
    );
    assert!(request.headers.get_all("content-encoding").is_empty());
    assert!(request
        .headers
        .get_all("x-prometheus-remote-write-version")
        .is_empty());
    assert!(matches!(
        send(&sender, b"{}").await,
        SendOutcome::TooLarge(_)
    ));
    let bad = permanent(send(&sender, b"{}").await).to_string();
    assert!(bad.contains("metrics[0].value must be a number"), "{bad}");
    assert!(!bad.contains("BadDataError"), "{bad}");
    let unauthorized = permanent(send(&sender, b"{}").await).to_string();
    assert!(unauthorized.contains("You must log in"), "{unauthorized}");
    assert!(unauthorized.contains("credentials"), "{unauthorized}");
    assert!(!unauthorized.contains(TOKEN), "{unauthorized}");
}

/// A bearer token, a basic-auth password and an `Authorization` value with the
/// characters that Go's `%q` and JSON escape.
const AWKWARD: &str = r#"tok"9f\8e<7d>"#;

fn awkward_sender(endpoint: &str, auth: Auth, protocol: Protocol) -> HttpSender {
    let config = TransportConfig {
        endpoint: Some(endpoint.to_owned()),
        auth: Some(auth),
        ..TransportConfig::default()
    };
    test_sender(config, protocol)
}

#[tokio::test]
async fn credentials_a_server_echoes_are_redacted_before_the_failure_is_made() {
    use base64::Engine as _;
    let basic_pair = format!("pusher:{AWKWARD}");
    let basic_b64 = base64::engine::general_purpose::STANDARD.encode(&basic_pair);
    let go_quoted = r#"tok\"9f\\8e<7d>"#;
    let json_escaped = r#"tok\"9f\\8e\u003c7d\u003e"#;
    let go_quoted_in_json = r#"tok\\\"9f\\\\8e<7d>"#;
    let x1020 = "x".repeat(1020);
    let bearer = || Auth::Bearer(Secret::new(AWKWARD));
    let basic = || Auth::Basic {
        user: "pusher".into(),
        password: Secret::new(AWKWARD),
    };
    let raw = || Auth::Raw(Secret::new(AWKWARD));
    let (rw, json) = (Protocol::RemoteWrite, Protocol::UnleashJson);
    let r = |body: String| Reply::status(400).body(body.as_str());
    let redirect = |to: String| Reply::status(307).header("Location", to);
    // What vmauth answers for a token it does not know.
    let vmauth =
        |token: &str| format!(r#"cannot find the provided auth token "{token}" in config"#);
    let moved = |to: &str| {
        format!("redirect to {to} not followed; configure the final URL as the endpoint")
    };
    #[rustfmt::skip]
    let cases = [
        (bearer(), rw, r(vmauth(&format!("Bearer {go_quoted}"))), vmauth("<redacted>")),
        (bearer(), rw, r(format!("unknown {AWKWARD}")), "unknown <redacted>".into()),
        (basic(), rw, r(vmauth(&format!("Basic {basic_b64}"))), vmauth("<redacted>")),
        (basic(), rw, r(format!("bad {basic_pair}")), "bad <redacted>:<redacted>".into()),
        (bearer(), rw, r(format!("{x1020}{go_quoted} more")), format!("{x1020}<redacted>")),
        (raw(), json, r(format!(r#"{{"message":"{json_escaped}"}}"#)), "<redacted>".into()),
        (raw(), json, r(format!(r#"{{"message":"\"{go_quoted_in_json}\""}}"#)), r#""<redacted>""#.into()),
        (raw(), rw, redirect(format!("/denied/{AWKWARD}")), moved("/denied/<redacted>")),
    ];
    for (auth, protocol, reply, want) in cases {
        let server = receiver([reply]).await;
        let sender = awkward_sender(&url(&server, "/"), auth, protocol);
        let outcome = send(&sender, b"x").await;
        let outcome_debug = format!("{outcome:?}");
        let failure = permanent(outcome);
        assert_eq!(failure.detail, want);
        for text in [failure.to_string(), format!("{failure:?}"), outcome_debug] {
            for secret in [AWKWARD, go_quoted, json_escaped, &basic_b64, "9f"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }
}

#[tokio::test]
async fn a_404_and_a_405_both_say_to_check_the_endpoint_path() {
    for status in [404, 405] {
        let server = receiver([Reply::status(status)]).await;
        let failure =
            permanent(send(&sender(&url(&server, "/"), Duration::from_secs(10)), b"x").await);
        let message = failure.to_string();
        assert!(message.contains(&status.to_string()), "{message}");
        assert!(message.contains("check the endpoint's path"), "{message}");
    }
}

#[tokio::test]
async fn empty_credentials_send_no_authorization_and_no_tenant_header() {
    let mut server = receiver([Reply::status(204), Reply::status(204)]).await;
    for auth in [
        Auth::Bearer(Secret::new("")),
        Auth::Basic {
            user: String::new(),
            password: Secret::new(""),
        },
    ] {
        let config = TransportConfig {
            endpoint: Some(url(&server, "/api/v1/write")),
            auth: Some(auth),
            headers: vec![("X-Scope-OrgID".to_owned(), String::new())],
            ..TransportConfig::default()
        };
        let sender = test_sender(config, Protocol::RemoteWrite);
        let outcome = send(&sender, b"x").await;
        assert!(
            matches!(outcome, SendOutcome::Success { .. }),
            "{outcome:?}"
        );
    }
    let requests = take(&mut server);
    assert_eq!(requests.len(), 2);
    for request in requests {
        assert!(request.headers.get_all("authorization").is_empty());
        assert!(request.headers.get_all("x-scope-orgid").is_empty());
    }
}

#[tokio::test]
async fn a_2_0_sender_sends_2_0_headers_reads_the_written_counts_and_can_send_1_0() {
    let mut server = receiver([
        Reply::status(204)
            .header("X-Prometheus-Remote-Write-Samples-Written", "7")
            .header("X-Prometheus-Remote-Write-Histograms-Written", "1")
            .header("X-Prometheus-Remote-Write-Exemplars-Written", "0"),
        Reply::status(204),
    ])
    .await;
    let config = TransportConfig {
        endpoint: Some(url(&server, "/api/v1/write")),
        ..TransportConfig::default()
    };
    let sender = test_sender(config, Protocol::RemoteWriteV2);
    let written = |outcome: SendOutcome| match outcome {
        SendOutcome::Success { written, .. } => written,
        other => panic!("expected success, got {other:?}"),
    };
    let outcome = sender.send_as(&b"v2"[..], Protocol::RemoteWriteV2).await;
    let counts = Written {
        samples: Some(7),
        histograms: Some(1),
        exemplars: Some(0),
    };
    assert_eq!(written(outcome), Some(counts));
    // The same destination's fallback: 1.0 headers; an answer without counts.
    let outcome = sender.send_as(&b"v1"[..], Protocol::RemoteWrite).await;
    assert_eq!(written(outcome), None);
    let requests = take(&mut server);
    let header = |r: &Received, name: &str| r.headers.get_all(name).join(",");
    assert_eq!(
        header(&requests[0], "content-type"),
        "application/x-protobuf;proto=io.prometheus.write.v2.Request"
    );
    assert_eq!(
        header(&requests[0], "x-prometheus-remote-write-version"),
        "2.0.0"
    );
    assert_eq!(header(&requests[0], "content-encoding"), "snappy");
    assert_eq!(
        header(&requests[1], "content-type"),
        "application/x-protobuf"
    );
    assert_eq!(
        header(&requests[1], "x-prometheus-remote-write-version"),
        "0.1.0"
    );
    for r in &requests {
        assert_eq!(
            header(r, "user-agent"),
            format!("prompush/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
