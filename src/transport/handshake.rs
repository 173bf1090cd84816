//! Why a TLS handshake failed, said so that the user knows which option fixes it.
//!
//! reqwest reports a failed handshake as a connection error whose text ends in rustls'
//! terse words (`invalid peer certificate: UnknownIssuer`). [`diagnose`] walks the
//! error's source chain to the [`rustls::Error`] (through the `io::Error`s that wrap it,
//! whose `source()` skips the wrapped error) and sorts it into a [`TlsProblem`], whose
//! text names the cause and the option, and never suggests that the server is down.

use std::error::Error as StdError;
use std::time::{Duration, UNIX_EPOCH};

use rustls::{AlertDescription, CertificateError, InvalidMessage};

/// A TLS failure the user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsProblem {
    /// The server's certificate chains to no CA this client trusts.
    UnknownIssuer,
    /// The server's certificate does not carry the name the client connected to.
    NameMismatch,
    /// The server's certificate has expired.
    Expired,
    /// The server's certificate is not valid yet.
    NotYetValid,
    /// The server asks for a client certificate and none is configured.
    ClientCertRequired,
    /// The server refused the client certificate presented.
    ClientCertRejected,
    /// The server answered, but not in TLS.
    NotTls,
    /// The two sides share no protocol version, cipher suite or key exchange.
    Incompatible,
    /// Any other handshake failure; the detail says what rustls saw.
    Other,
}

impl TlsProblem {
    /// The cause and the fix, one sentence for a log line.
    pub(crate) fn explain(self) -> &'static str {
        match self {
            TlsProblem::UnknownIssuer => {
                "the server's certificate is signed by a CA this client does not trust; \
                 give that CA with with_tls_ca_file (Prometheus' tls_config.ca_file), or add \
                 it to the system's trust store (or a bundle named by SSL_CERT_FILE)"
            }
            TlsProblem::NameMismatch => {
                "the server's certificate is not valid for the name connected to; use a URL \
                 with a name the certificate carries, or set that name with \
                 with_tls_server_name (Prometheus' tls_config.server_name)"
            }
            TlsProblem::Expired => {
                "the server's certificate has expired; renew it on the server (or check \
                 this machine's clock)"
            }
            TlsProblem::NotYetValid => {
                "the server's certificate is not valid yet; check this machine's clock and \
                 the server's"
            }
            TlsProblem::ClientCertRequired => {
                "the server demands a client certificate (mutual TLS); give one with \
                 with_tls_client_cert_files (Prometheus' tls_config.cert_file and key_file)"
            }
            TlsProblem::ClientCertRejected => {
                "the server refused this client's certificate (issued by a CA it does not \
                 trust, expired, or not for client authentication); check the files given \
                 to with_tls_client_cert_files against the server's client CA"
            }
            TlsProblem::NotTls => {
                "the server did not answer in TLS; if it serves plain HTTP, use an http:// \
                 endpoint"
            }
            TlsProblem::Incompatible => {
                "the server and this client share no TLS version or cipher suite (this \
                 client speaks TLS 1.2 and 1.3 with modern ciphers); check the server's TLS \
                 settings"
            }
            TlsProblem::Other => "the TLS handshake failed",
        }
    }
}

/// The TLS problem behind `error`, with rustls' own words (and, where rustls gives
/// them, the names or dates involved), if a rustls error is in its chain.
/// `has_client_cert`: whether this destination presents a client certificate (a TLS 1.2
/// server refuses a missing one and a bad one with the same alert).
pub(crate) fn diagnose(
    error: &(dyn StdError + 'static),
    has_client_cert: bool,
) -> Option<(TlsProblem, String)> {
    let tls = find_rustls_error(error)?;
    let problem = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => TlsProblem::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsProblem::NameMismatch
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsProblem::NotYetValid
            }
            _ => TlsProblem::Other,
        },
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired => TlsProblem::ClientCertRequired,
            AlertDescription::BadCertificate | AlertDescription::HandshakeFailure
                if !has_client_cert =>
            {
                TlsProblem::ClientCertRequired
            }
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied => TlsProblem::ClientCertRejected,
            AlertDescription::ProtocolVersion | AlertDescription::InsufficientSecurity => {
                TlsProblem::Incompatible
            }
            _ => TlsProblem::Other,
        },
        rustls::Error::InvalidMessage(InvalidMessage::InvalidContentType) => TlsProblem::NotTls,
        rustls::Error::PeerIncompatible(_) => TlsProblem::Incompatible,
        _ => TlsProblem::Other,
    };
    Some((problem, detail(tls)))
}

/// rustls' description, with the names and dates of a certificate error spelled out.
fn detail(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected,
            presented,
        }) => {
            let names = if presented.is_empty() {
                "no names".to_owned()
            } else {
                presented.join(", ")
            };
            format!(
                "the certificate is for {names}, not {:?}",
                expected.to_str().as_ref()
            )
        }
        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            not_after, ..
        }) => format!(
            "the certificate expired at {}",
            http_date(not_after.as_secs())
        ),
        rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            not_before,
            ..
        }) => format!(
            "the certificate is valid from {}",
            http_date(not_before.as_secs())
        ),
        other => other.to_string(),
    }
}

fn http_date(unix_seconds: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_seconds))
}

/// The first [`rustls::Error`] in `error`'s chain. An `io::Error`'s `source()` is its
/// wrapped error's source, not the wrapped error, so those are opened with `get_ref`.
fn find_rustls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn StdError + 'static) = inner;
            if let Some(tls) = find_rustls_error(inner) {
                return Some(tls);
            }
        }
        current = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{ServerName, UnixTime};

    /// As tokio-rustls and hyper wrap it: rustls error in an io::Error in another error.
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    fn wrapped(error: rustls::Error) -> Outer {
        Outer(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
    }

    fn problem(error: rustls::Error, has_client_cert: bool) -> TlsProblem {
        diagnose(&wrapped(error), has_client_cert)
            .expect("a rustls error is found")
            .0
    }

    #[test]
    fn each_certificate_error_is_sorted_by_its_cause() {
        let cases = [
            (CertificateError::UnknownIssuer, TlsProblem::UnknownIssuer),
            (CertificateError::NotValidForName, TlsProblem::NameMismatch),
            (CertificateError::Expired, TlsProblem::Expired),
            (CertificateError::NotValidYet, TlsProblem::NotYetValid),
            (CertificateError::BadSignature, TlsProblem::Other),
        ];
        for (error, want) in cases {
            let got = problem(rustls::Error::InvalidCertificate(error.clone()), false);
            assert_eq!(got, want, "{error:?}");
        }
    }

    #[test]
    fn server_alerts_tell_a_missing_client_certificate_from_a_refused_one() {
        let cases = [
            (
                AlertDescription::CertificateRequired,
                false,
                TlsProblem::ClientCertRequired,
            ),
            (
                AlertDescription::BadCertificate,
                false,
                TlsProblem::ClientCertRequired,
            ),
            (
                AlertDescription::BadCertificate,
                true,
                TlsProblem::ClientCertRejected,
            ),
            (
                AlertDescription::UnknownCA,
                true,
                TlsProblem::ClientCertRejected,
            ),
            (
                AlertDescription::ProtocolVersion,
                false,
                TlsProblem::Incompatible,
            ),
        ];
        for (alert, has_cert, want) in cases {
            let got = problem(rustls::Error::AlertReceived(alert), has_cert);
            assert_eq!(got, want, "{alert:?}, client cert: {has_cert}");
        }
    }

    #[test]
    fn a_name_mismatch_names_both_sides_and_an_expiry_its_date() {
        let mismatch =
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("127.0.0.1").expect("ip"),
                presented: vec!["DnsName(\"prom.test\")".to_owned()],
            });
        let (_, detail) = diagnose(&wrapped(mismatch), false).expect("found");
        assert!(
            detail.contains("prom.test") && detail.contains("127.0.0.1"),
            "{detail}"
        );

        let expired = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_600_000_000)),
        });
        let (_, detail) = diagnose(&wrapped(expired), false).expect("found");
        assert_eq!(
            detail,
            "the certificate expired at Sun, 13 Sep 2020 12:26:40 GMT"
        );
    }

    #[test]
    fn errors_without_rustls_in_their_chain_are_not_tls_problems() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(diagnose(&Outer(refused), false).is_none());
    }

    #[test]
    fn no_explanation_suggests_the_server_is_down() {
        for problem in [
            TlsProblem::UnknownIssuer,
            TlsProblem::NameMismatch,
            TlsProblem::Expired,
            TlsProblem::NotYetValid,
            TlsProblem::ClientCertRequired,
            TlsProblem::ClientCertRejected,
            TlsProblem::NotTls,
            TlsProblem::Incompatible,
            TlsProblem::Other,
        ] {
            assert!(!problem.explain().contains("server up"), "{problem:?}");
        }
    }
}
