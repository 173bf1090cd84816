//! The verifier behind `danger_accept_invalid_certs(true)`: any certificate, any name,
//! any date. The handshake signatures are still checked, so the session is at least
//! with the holder of the certificate shown.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct as Signed, SignatureScheme};

type Certificate<'a> = CertificateDer<'a>;
type Verdict = Result<HandshakeSignatureValid, rustls::Error>;

#[derive(Debug)]
pub(super) struct AcceptAnyServerCert {
    pub(super) algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &Certificate<'_>,
        _intermediates: &[Certificate<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, msg: &[u8], cert: &Certificate<'_>, s: &Signed) -> Verdict {
        crypto::verify_tls12_signature(msg, cert, s, &self.algorithms)
    }

    fn verify_tls13_signature(&self, msg: &[u8], cert: &Certificate<'_>, s: &Signed) -> Verdict {
        crypto::verify_tls13_signature(msg, cert, s, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
