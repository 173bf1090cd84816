//! Sharing clients by settings, rotation of certificate files, the server-name override
//! and the explanation of handshake failures, against a loopback rustls server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::transport::handshake::TlsProblem;
use crate::transport::http::{test_sender, FailureKind, HttpSender, SendOutcome};
use crate::transport::test_tls::{der_of, Issued, KeyKind, TestCa, TlsServer};
use crate::transport::tls::{ClientCertSource, PemBytes, PemSource};
use crate::transport::{Protocol, TransportConfig};

fn sender(endpoint: &str, tls: TlsOptions) -> HttpSender {
    let config = TransportConfig {
        endpoint: Some(endpoint.to_owned()),
        tls,
        timeout: Duration::from_secs(10),
        ..TransportConfig::default()
    };
    test_sender(config, Protocol::RemoteWrite)
}

fn trusting(ca: &TestCa) -> TlsOptions {
    TlsOptions {
        ca: vec![PemSource::Memory(PemBytes::new(ca.pem()))],
        ..TlsOptions::default()
    }
}

async fn push(sender: &HttpSender) -> SendOutcome {
    tokio::time::timeout(Duration::from_secs(20), sender.send(&b"x"[..]))
        .await
        .expect("send finished within 20 s")
}

async fn push_ok(sender: &HttpSender) {
    let outcome = push(sender).await;
    assert!(
        matches!(outcome, SendOutcome::Success { .. }),
        "{outcome:?}"
    );
}

/// The failure of a push that must fail, and its message.
async fn push_failure(sender: &HttpSender) -> (FailureKind, String) {
    match push(sender).await {
        SendOutcome::Retryable(failure) | SendOutcome::Permanent(failure) => {
            (failure.kind, failure.to_string())
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn write_pair(dir: &Path, issued: &Issued) -> (PathBuf, PathBuf) {
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    std::fs::write(&cert, &issued.cert_pem).expect("write cert");
    std::fs::write(&key, &issued.key_pem).expect("write key");
    (cert, key)
}

#[test]
fn equal_settings_share_a_client_and_different_settings_do_not() {
    let ca = TestCa::new("ca");
    let a = sender("https://a.example/api/v1/write", trusting(&ca));
    let b = sender("https://b.example/api/v1/write", trusting(&ca));
    let other_ca = sender(
        "https://a.example/api/v1/write",
        trusting(&TestCa::new("other")),
    );
    let named = sender(
        "https://10.0.0.1/api/v1/write",
        TlsOptions {
            server_name: Some("a.example".to_owned()),
            ..trusting(&ca)
        },
    );
    let named_elsewhere = sender(
        "https://10.0.0.2/api/v1/write",
        TlsOptions {
            server_name: Some("a.example".to_owned()),
            ..trusting(&ca)
        },
    );

    assert!(Arc::ptr_eq(a.shared_client(), b.shared_client()));
    assert!(!Arc::ptr_eq(a.shared_client(), other_ca.shared_client()));
    assert!(!Arc::ptr_eq(a.shared_client(), named.shared_client()));
    // The route maps the name to one host: two hosts, two clients.
    assert!(!Arc::ptr_eq(
        named.shared_client(),
        named_elsewhere.shared_client()
    ));
}

#[tokio::test]
async fn a_private_ca_is_trusted_and_without_it_the_failure_names_the_option() {
    let ca = TestCa::new("private");
    let server = TlsServer::start(&ca.server(&["127.0.0.1"]), None);

    push_ok(&sender(&server.url("127.0.0.1"), trusting(&ca))).await;
    server.next_seen();

    let (kind, message) =
        push_failure(&sender(&server.url("127.0.0.1"), TlsOptions::default())).await;
    assert_eq!(
        kind,
        FailureKind::Tls(TlsProblem::UnknownIssuer),
        "{message}"
    );
    assert!(message.contains("with_tls_ca_file"), "{message}");
    assert!(!message.contains("server up"), "{message}");
}

#[tokio::test]
async fn the_server_name_override_is_sent_as_sni_and_the_host_header_stays() {
    let ca = TestCa::new("ca");
    let server = TlsServer::start(&ca.server(&["prom.test"]), None);
    let url = server.url("127.0.0.1");

    let (kind, message) = push_failure(&sender(&url, trusting(&ca))).await;
    assert_eq!(
        kind,
        FailureKind::Tls(TlsProblem::NameMismatch),
        "{message}"
    );
    assert!(
        message.contains("prom.test") && message.contains("with_tls_server_name"),
        "{message}"
    );

    let named = TlsOptions {
        server_name: Some("prom.test".to_owned()),
        ..trusting(&ca)
    };
    push_ok(&sender(&url, named)).await;
    let seen = server.next_seen();
    assert_eq!(seen.sni.as_deref(), Some("prom.test"));
    let port = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port");
    assert_eq!(seen.host, Some(format!("127.0.0.1:{port}")));
}

#[tokio::test]
async fn danger_accept_invalid_certs_connects_and_every_failure_says_it_is_on() {
    let ca = TestCa::new("unknown");
    let server = TlsServer::start(&ca.server(&["someone-else.test"]), None);
    let insecure = TlsOptions {
        accept_invalid_certs: true,
        ..TlsOptions::default()
    };
    push_ok(&sender(&server.url("127.0.0.1"), insecure.clone())).await;

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let (_, message) =
        push_failure(&sender(&format!("https://{closed}/api/v1/write"), insecure)).await;
    assert!(
        message.contains("danger_accept_invalid_certs is on"),
        "{message}"
    );
}

#[tokio::test]
async fn a_rewritten_client_certificate_is_presented_on_the_next_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client_ca = TestCa::new("clients");
    let server_ca = TestCa::new("server");
    let server = TlsServer::start(&server_ca.server(&["127.0.0.1"]), Some(&client_ca));
    let first = client_ca.client(KeyKind::Ecdsa);
    let (cert, key) = write_pair(dir.path(), &first);
    let options = TlsOptions {
        client_cert: Some(ClientCertSource {
            cert: PemSource::File(cert.clone()),
            key: PemSource::File(key.clone()),
        }),
        ..trusting(&server_ca)
    };
    let sender = sender(&server.url("127.0.0.1"), options);

    push_ok(&sender).await;
    assert_eq!(
        server.next_seen().client_cert,
        Some(der_of(&first.cert_pem))
    );

    // The same bytes again: nothing to rebuild.
    write_pair(dir.path(), &first);
    push_ok(&sender).await;
    server.next_seen();
    assert_eq!(sender.shared_client().generation(), 1);

    // Half a rotation: a new certificate before its key. The old pair stays in use.
    let second = client_ca.client(KeyKind::Ed25519);
    std::fs::write(&cert, &second.cert_pem).expect("write cert");
    push_ok(&sender).await;
    let presented = server.next_seen().client_cert;
    assert_eq!(presented, Some(der_of(&first.cert_pem)));
    assert_eq!(sender.shared_client().generation(), 1);

    // The key arrives: the next connection presents the new pair.
    std::fs::write(&key, &second.key_pem).expect("write key");
    push_ok(&sender).await;
    let presented = server.next_seen().client_cert;
    assert_eq!(presented, Some(der_of(&second.cert_pem)));
    assert_eq!(sender.shared_client().generation(), 2);
}

#[tokio::test]
async fn a_ca_file_that_turns_bad_keeps_the_previous_one_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("ca");
    let server = TlsServer::start(&ca.server(&["127.0.0.1"]), None);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write");
    let sender = sender(
        &server.url("127.0.0.1"),
        TlsOptions {
            ca: vec![PemSource::File(ca_file.clone())],
            ..TlsOptions::default()
        },
    );
    push_ok(&sender).await;
    server.next_seen();

    std::fs::write(&ca_file, "truncated -----BEGIN CERTIFICATE-----\nMII").expect("write");
    push_ok(&sender).await;
    server.next_seen();
    std::fs::remove_file(&ca_file).expect("remove");
    push_ok(&sender).await;
    server.next_seen();

    assert_eq!(sender.shared_client().generation(), 1);
}
