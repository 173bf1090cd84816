//! PEM loading and its errors, server names, and the stamps that drive rotation.

use std::time::{Duration, SystemTime};

use super::*;
use crate::transport::test_tls::{KeyKind, TestCa};

fn config_error(result: Result<LoadedTls, Error>) -> String {
    match result {
        Err(Error::Config(message)) => message,
        Ok(loaded) => panic!("expected a configuration error, got {loaded:?}"),
        Err(other) => panic!("expected a configuration error, got {other:?}"),
    }
}

fn with_ca_file(path: &Path) -> TlsOptions {
    TlsOptions {
        ca: vec![PemSource::File(path.to_owned())],
        ..TlsOptions::default()
    }
}

fn with_client_files(cert: &Path, key: &Path) -> TlsOptions {
    TlsOptions {
        client_cert: Some(ClientCertSource {
            cert: PemSource::File(cert.to_owned()),
            key: PemSource::File(key.to_owned()),
        }),
        ..TlsOptions::default()
    }
}

fn memory(pem: &str) -> PemSource {
    PemSource::Memory(PemBytes::new(pem.as_bytes()))
}

#[test]
fn a_ca_file_with_several_certificates_adds_them_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cas.pem");
    let bundle = format!("{}{}", TestCa::new("one").pem(), TestCa::new("two").pem());
    std::fs::write(&path, bundle).expect("write");

    let loaded = TlsMaterial::load(&with_ca_file(&path)).expect("loads");

    assert_eq!(loaded.material.extra_roots.len(), 2);
    assert_eq!(loaded.files.len(), 1);
    assert_eq!(loaded.files[0].path, path);
}

#[test]
fn a_missing_ca_file_is_an_error_naming_the_file_and_the_option() {
    let message = config_error(TlsMaterial::load(&with_ca_file(Path::new(
        "/nonexistent/company-ca.pem",
    ))));
    assert!(
        message.contains("\"/nonexistent/company-ca.pem\""),
        "{message}"
    );
    assert!(message.contains("with_tls_ca_file"), "{message}");
    assert!(message.contains("No such file"), "{message}");
}

#[test]
fn files_without_pem_certificates_say_what_they_hold_instead() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("ca");
    let client = ca.client(KeyKind::Ecdsa);
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("empty.pem", Vec::new(), "holds no PEM certificate"),
        (
            "ca.der",
            crate::transport::test_tls::der_of(&ca.pem()),
            "looks like DER",
        ),
        (
            "key.pem",
            client.key_pem.clone().into_bytes(),
            "certificate and key swapped",
        ),
        (
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\nMIIB\n".to_vec(),
            "is not valid PEM (a section has no END line)",
        ),
    ];
    for (name, content, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        let message = config_error(TlsMaterial::load(&with_ca_file(&path)));
        assert!(message.contains(name), "{name}: {message}");
        assert!(message.contains(want), "{name}: {message}");
    }
}

#[test]
fn client_keys_of_every_supported_kind_load_with_their_certificate() {
    let ca = TestCa::new("ca");
    for kind in [
        KeyKind::Ecdsa,
        KeyKind::Ed25519,
        KeyKind::Rsa,
        KeyKind::RsaPkcs1,
    ] {
        let issued = ca.client(kind);
        let options = TlsOptions {
            client_cert: Some(ClientCertSource {
                cert: memory(&issued.cert_pem),
                key: memory(&issued.key_pem),
            }),
            ..TlsOptions::default()
        };
        let loaded = TlsMaterial::load(&options).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert!(loaded.material.client.is_some(), "{kind:?}");
        assert!(loaded.files.is_empty(), "in-memory PEM is not watched");
    }
}

#[test]
fn a_key_that_does_not_belong_to_the_certificate_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("ca");
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, ca.client(KeyKind::Ecdsa).cert_pem).expect("write");
    std::fs::write(&key, ca.client(KeyKind::Ecdsa).key_pem).expect("write");

    let message = config_error(TlsMaterial::load(&with_client_files(&cert, &key)));

    assert!(
        message.contains("does not belong to the certificate"),
        "{message}"
    );
    assert!(
        message.contains("tls.crt") && message.contains("tls.key"),
        "{message}"
    );
}

#[test]
fn key_files_without_a_usable_key_say_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("ca");
    let issued = ca.client(KeyKind::Ecdsa);
    let cert = dir.path().join("tls.crt");
    std::fs::write(&cert, &issued.cert_pem).expect("write");
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQww\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let cases = [
        (
            "encrypted.key",
            encrypted.to_owned(),
            "the key is encrypted",
        ),
        (
            "swapped.key",
            issued.cert_pem.clone(),
            "certificate and key swapped",
        ),
        ("empty.key", String::new(), "holds no private key"),
    ];
    for (name, content, want) in cases {
        let key = dir.path().join(name);
        std::fs::write(&key, content).expect("write");
        let message = config_error(TlsMaterial::load(&with_client_files(&cert, &key)));
        assert!(
            message.contains(name) && message.contains(want),
            "{name}: {message}"
        );
        assert!(
            message.contains("with_tls_client_cert_files"),
            "{name}: {message}"
        );
    }
}

#[test]
fn in_memory_pem_errors_name_the_option_and_never_the_key() {
    let ca = TestCa::new("ca");
    let issued = ca.client(KeyKind::Ecdsa);
    let other = ca.client(KeyKind::Ecdsa);
    let options = TlsOptions {
        client_cert: Some(ClientCertSource {
            cert: memory(&issued.cert_pem),
            key: memory(&other.key_pem),
        }),
        ..TlsOptions::default()
    };
    let message = config_error(TlsMaterial::load(&options));
    assert!(message.contains("with_tls_client_cert_pem"), "{message}");
    let bad_ca = TlsOptions {
        ca: vec![memory("not pem")],
        ..TlsOptions::default()
    };
    assert!(config_error(TlsMaterial::load(&bad_ca)).contains("with_tls_ca_pem"));

    let shown = format!("{options:?}");
    let key_body = other.key_pem.lines().nth(1).expect("a base64 line");
    assert!(!shown.contains(key_body), "{shown}");
    assert!(shown.contains("bytes of PEM"), "{shown}");
}

#[test]
fn the_server_name_must_be_a_dns_name() {
    let name = |n: &str| TlsOptions {
        server_name: Some(n.to_owned()),
        ..TlsOptions::default()
    };
    assert!(name("prometheus.internal").validate_server_name().is_ok());
    for bad in ["10.0.0.1", "::1", "", "bad name"] {
        let error = name(bad).validate_server_name().expect_err(bad).to_string();
        assert!(error.contains("with_tls_server_name"), "{bad}: {error}");
    }
}

#[test]
fn a_stamp_is_racy_while_a_write_could_share_its_timestamp() {
    let read_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let stamp = |modified: Option<SystemTime>| FileStamp {
        len: 10,
        modified,
        #[cfg(unix)]
        file_id: (1, 1),
    };
    let cases = [
        (Some(read_at - Duration::from_secs(10)), false),
        (Some(read_at - RACY_WINDOW), false),
        (Some(read_at - Duration::from_millis(1500)), true),
        (Some(read_at), true),
        (Some(read_at + Duration::from_secs(5)), true),
        (None, true),
    ];
    for (modified, racy) in cases {
        assert_eq!(stamp(modified).is_racy(read_at), racy, "{modified:?}");
    }
}

#[test]
fn a_file_is_read_again_when_its_stamp_changes_or_was_racy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, "one").expect("write");
    let stamp = FileStamp::of(&path).ok();
    let watched = |stamp: Option<FileStamp>, racy| WatchedFile {
        path: path.clone(),
        stamp,
        racy,
    };
    assert!(!watched(stamp.clone(), false).needs_reading());
    assert!(watched(stamp.clone(), true).needs_reading());
    std::fs::write(&path, "longer content").expect("rewrite");
    assert!(watched(stamp.clone(), false).needs_reading());
    std::fs::remove_file(&path).expect("remove");
    assert!(watched(stamp, false).needs_reading());
    assert!(
        !watched(None, false).needs_reading(),
        "still missing: nothing to read"
    );
}

/// Runs `openssl` with `args` in `dir`; fails the test (no silent skip) when it is
/// missing or fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs the `openssl` command to make an X.509 v1 certificate: {e}")
        });
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_v1_client_certificate_is_refused_in_words_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    // As many guides make one: a CSR signed by `openssl x509 -req` without `-extfile`.
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "client.key",
            "-subj",
            "/CN=client",
            "-out",
            "client.csr",
        ],
    );
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-signkey",
            "client.key",
            "-days",
            "1",
            "-out",
            "client.crt",
        ],
    );
    let (cert, key) = (dir.path().join("client.crt"), dir.path().join("client.key"));
    let pem = std::fs::read(&cert).expect("read the certificate");
    let der = CertificateDer::from_pem_slice(&pem).expect("a PEM certificate");
    assert_eq!(x509_version(&der), Some(1));

    let message = config_error(TlsMaterial::load(&with_client_files(&cert, &key)));

    assert!(message.contains("client.crt"), "{message}");
    assert!(message.contains("X.509 v1"), "{message}");
    assert!(message.contains("only X.509 v3"), "{message}");
    assert!(message.contains("extendedKeyUsage=clientAuth"), "{message}");
}

#[test]
fn the_x509_version_is_read_from_the_der() {
    let ca = TestCa::new("ca");
    let v3 = crate::transport::test_tls::der_of(&ca.client(KeyKind::Ecdsa).cert_pem);
    assert_eq!(x509_version(&v3), Some(3));
    // SEQUENCE { SEQUENCE { INTEGER 5 (a serial number, no version field) } }.
    assert_eq!(
        x509_version(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x05]),
        Some(1)
    );
    assert_eq!(x509_version(&[0x30, 0x05, 0x30]), None, "truncated");
    assert_eq!(x509_version(b"not DER"), None);
}
