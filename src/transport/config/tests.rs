//! The build-time checks of endpoints, headers, auth and TLS options.

use super::*;

fn config(endpoint: &str) -> TransportConfig {
    TransportConfig {
        endpoint: Some(endpoint.to_owned()),
        ..TransportConfig::default()
    }
}

fn with_headers(headers: &[(&str, &str)]) -> TransportConfig {
    TransportConfig {
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        ..config("http://127.0.0.1:9090/api/v1/write")
    }
}

fn config_error(config: TransportConfig) -> String {
    match config.validate() {
        Err(Error::Config(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn accepts_http_and_https_endpoints() {
    for url in [
        "http://127.0.0.1:9090/api/v1/write",
        "https://example.test/push",
    ] {
        let valid = config(url).validate().expect("valid endpoint");
        assert_eq!(valid.endpoint.as_str(), url);
        assert_eq!(valid.timeout, DEFAULT_TIMEOUT);
    }
}

#[test]
fn rejects_missing_unparsable_and_non_http_endpoints() {
    assert!(config_error(TransportConfig::default()).contains("with_endpoint"));
    assert!(config_error(config("not a url")).contains("not a valid URL"));
    assert!(config_error(config("localhost:9090/api/v1/write")).contains("not supported"));
    assert!(config_error(config("ftp://host/x")).contains("\"ftp\""));
    assert!(config_error(config("unix:/tmp/sock")).contains("not supported"));
}

#[test]
fn rejects_credentials_in_url_without_echoing_them() {
    let message = config_error(config("https://user:s3cret-pw@host/api/v1/write"));
    assert!(message.contains("with_bearer_token"), "{message}");
    assert!(!message.contains("s3cret-pw"), "{message}");
}

#[test]
fn rejects_zero_timeout() {
    let cfg = TransportConfig {
        timeout: Duration::ZERO,
        ..config("http://127.0.0.1:1/")
    };
    assert!(config_error(cfg).contains("timeout"));
}

#[test]
fn rejects_reserved_headers_in_any_case() {
    for name in [
        "Content-Encoding",
        "content-type",
        "X-PROMETHEUS-REMOTE-WRITE-VERSION",
        "User-Agent",
        "Host",
        "content-length",
        "Transfer-Encoding",
    ] {
        let message = config_error(with_headers(&[(name, "x")]));
        assert!(
            message.contains("cannot be overridden"),
            "{name}: {message}"
        );
    }
}

#[test]
fn authorization_header_is_reserved_only_with_a_bearer_token() {
    let plain = with_headers(&[("authorization", "Basic dXNlcjpwdw==")]);
    assert!(plain.clone().validate().is_ok());
    let both = TransportConfig {
        auth: Some(Auth::Bearer(Secret::new("tok"))),
        ..plain
    };
    assert!(config_error(both).contains("not both"));
}

#[test]
fn rejects_invalid_and_duplicate_headers() {
    assert!(config_error(with_headers(&[("bad name", "x")])).contains("header name"));
    assert!(config_error(with_headers(&[("", "x")])).contains("header name"));
    let message = config_error(with_headers(&[("X-Key", "line\nbreak-secret")]));
    assert!(message.contains("not allowed"), "{message}");
    assert!(!message.contains("break-secret"), "{message}");
    let dup = with_headers(&[("X-Scope-OrgID", "a"), ("x-scope-orgid", "b")]);
    assert!(config_error(dup).contains("twice"));
}

#[test]
fn rejects_bearer_token_with_control_characters() {
    let cfg = TransportConfig {
        auth: Some(Auth::Bearer(Secret::new("abc\r\ndef"))),
        ..config("http://127.0.0.1:1/")
    };
    assert!(config_error(cfg).contains("bearer token"));
}

#[test]
fn basic_and_raw_auth_become_the_authorization_header() {
    let basic = TransportConfig {
        auth: Some(Auth::Basic {
            user: "123456".into(),
            password: Secret::new("glc_SECRET"),
        }),
        ..config("https://example.test/api/prom/push")
    };
    let debug = format!("{basic:?}");
    assert!(
        !debug.contains("SECRET") && !debug.contains("123456"),
        "{debug}"
    );
    let valid = basic.validate().expect("valid");
    assert_eq!(
        valid.headers[reqwest::header::AUTHORIZATION],
        "Basic MTIzNDU2OmdsY19TRUNSRVQ="
    );
    assert!(valid.headers[reqwest::header::AUTHORIZATION].is_sensitive());
    let raw = TransportConfig {
        auth: Some(Auth::Raw(Secret::new("default:development.abc"))),
        ..config("http://127.0.0.1:4242/api/client/metrics/custom")
    };
    let valid = raw.validate().expect("valid");
    assert_eq!(
        valid.headers[reqwest::header::AUTHORIZATION],
        "default:development.abc"
    );
    let colon = TransportConfig {
        auth: Some(Auth::Basic {
            user: "a:b".into(),
            password: Secret::new("p"),
        }),
        ..config("https://example.test/")
    };
    assert!(config_error(colon).contains("':'"));
}

#[test]
fn debug_shows_no_token_and_no_header_values() {
    let cfg = TransportConfig {
        auth: Some(Auth::Bearer(Secret::new("tok-SECRET-1"))),
        headers: vec![("X-Api-Key".to_owned(), "key-SECRET-2".to_owned())],
        ..config("http://127.0.0.1:1/")
    };
    let raw = format!("{cfg:?}");
    let valid = format!("{:?}", cfg.validate().expect("valid"));
    for text in [raw, valid] {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.to_ascii_lowercase().contains("x-api-key"), "{text}");
    }
}

#[test]
fn credentials_over_http_only_to_loopback_or_when_allowed() {
    let remote = "http://metrics.example.com/api/v1/write";
    let with_token = |endpoint: &str| TransportConfig {
        auth: Some(Auth::Bearer(Secret::new("tok"))),
        ..config(endpoint)
    };
    assert!(with_token(remote).validate().is_err());
    let api_key = TransportConfig {
        headers: vec![("X-Api-Key".into(), "k".into())],
        ..config(remote)
    };
    assert!(api_key.validate().is_err());
    for ok in [
        TransportConfig {
            allow_plaintext_credentials: true,
            ..with_token(remote)
        },
        with_token("https://metrics.example.com/api/v1/write"),
        with_token("http://localhost:9/api/v1/write"),
        with_token("http://127.0.0.2:9/api/v1/write"),
        with_token("http://[::1]:9/api/v1/write"),
        config(remote),
    ] {
        let described = format!("{ok:?}");
        assert!(ok.validate().is_ok(), "{described}");
    }
}

#[test]
fn endpoints_print_without_credentials() {
    let raw = "https://user:pw@example.com/api/v1/write?api_key=SECRET123#frag";
    let cfg = TransportConfig {
        auth: Some(Auth::Bearer(Secret::new("tok"))),
        ..config(raw)
    };
    let before = format!("{cfg:?}");
    let validated = TransportConfig {
        endpoint: Some("https://example.com/api/v1/write?api_key=SECRET123".into()),
        ..TransportConfig::default()
    }
    .validate()
    .unwrap();
    let after = format!("{validated:?}");
    let bad = config("htp:/bad url?api_key=SECRET123")
        .validate()
        .unwrap_err();
    for text in [before, after, bad.to_string()] {
        for secret in ["SECRET123", "pw@", "user:"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert_eq!(
        super::super::url::redact_raw_url("http://a:b@h:1/p?q=1"),
        "http://<redacted>@h:1/p"
    );
}

#[test]
fn tls_options_on_a_plain_http_endpoint_are_refused() {
    let plain = TransportConfig {
        tls: TlsOptions {
            server_name: Some("prom.internal".to_owned()),
            ..TlsOptions::default()
        },
        ..config("http://10.0.0.1:9090/api/v1/write")
    };
    let message = config_error(plain);
    assert!(message.contains("https://"), "{message}");
}

#[test]
fn a_server_name_is_refused_through_a_proxy_or_as_an_address() {
    let named = |endpoint: &str, name: &str, proxy: Option<&str>| TransportConfig {
        tls: TlsOptions {
            server_name: Some(name.to_owned()),
            ..TlsOptions::default()
        },
        proxy: proxy.map(Secret::new),
        ..config(endpoint)
    };
    let proxied = config_error(named(
        "https://10.0.0.1/api/v1/write",
        "prom.internal",
        Some("http://proxy.internal:3128"),
    ));
    assert!(
        proxied.contains("through http://proxy.internal:3128"),
        "{proxied}"
    );
    let address = config_error(named("https://prom.internal/x", "10.0.0.1", None));
    assert!(address.contains("IP address"), "{address}");
    assert!(named("https://10.0.0.1/x", "prom.internal", None)
        .validate()
        .is_ok());
}

#[test]
fn proxy_credentials_and_key_pem_never_show_in_debug_output() {
    let cfg = TransportConfig {
        proxy: Some(Secret::new(
            "http://pusher:hunter2-proxy@proxy.internal:3128",
        )),
        tls: TlsOptions {
            client_cert: Some(super::super::tls::ClientCertSource {
                cert: super::super::tls::PemSource::File("/etc/tls/tls.crt".into()),
                key: super::super::tls::PemSource::Memory(super::super::tls::PemBytes::new(
                    "-----BEGIN PRIVATE KEY-----\nSECRETKEY",
                )),
            }),
            ..TlsOptions::default()
        },
        ..config("https://prom.internal/api/v1/write")
    };
    let shown = format!("{cfg:?}");
    for secret in ["hunter2", "pusher", "SECRETKEY"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("/etc/tls/tls.crt"), "{shown}");
    let bad_proxy = TransportConfig {
        proxy: Some(Secret::new("socks5://pusher:hunter2-proxy@proxy:1080")),
        ..config("https://prom.internal/api/v1/write")
    };
    let message = config_error(bad_proxy);
    assert!(
        !message.contains("hunter2") && message.contains("socks5"),
        "{message}"
    );
}

#[test]
fn empty_credentials_are_none_and_trip_no_credential_check() {
    let empty = [
        Auth::Bearer(Secret::new("")),
        Auth::Bearer(Secret::new("  ")),
        Auth::Raw(Secret::new("")),
        Auth::Basic {
            user: String::new(),
            password: Secret::new(""),
        },
    ];
    for auth in empty {
        let cfg = TransportConfig {
            auth: Some(auth.clone()),
            headers: vec![
                ("X-Scope-OrgID".to_owned(), String::new()),
                ("X-Api-Key".to_owned(), " ".to_owned()),
            ],
            ..config("http://example.invalid/api/v1/write")
        };
        let valid = cfg.validate().unwrap_or_else(|e| panic!("{auth:?}: {e}"));
        assert!(valid.headers.is_empty(), "{auth:?}: {:?}", valid.headers);
    }
    // A user with an empty password is basic auth all the same.
    let user_only = TransportConfig {
        auth: Some(Auth::Basic {
            user: "123456".into(),
            password: Secret::new(""),
        }),
        ..config("http://example.invalid/api/v1/write")
    };
    assert!(config_error(user_only).contains("unencrypted"));
}
