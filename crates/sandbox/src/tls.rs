//! HTTPS for the sandbox: a self-signed certificate for `localhost`, `127.0.0.1` and `::1`,
//! made fresh at start (`rcgen`), which clients trust by its PEM (`--ca-cert`).

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// A certificate and its private key, for [`Sandbox::start_tls`](crate::Sandbox::start_tls).
#[derive(Clone)]
pub struct TlsIdentity {
    cert: CertificateDer<'static>,
    cert_pem: String,
    key: Arc<Vec<u8>>,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// The names the certificate is valid for.
pub const TLS_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

impl TlsIdentity {
    /// A new self-signed certificate (ECDSA P-256) for [`TLS_NAMES`].
    pub fn self_signed() -> io::Result<TlsIdentity> {
        let names: Vec<String> = TLS_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let made = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
        Ok(TlsIdentity {
            cert: made.cert.der().clone(),
            cert_pem: made.cert.pem(),
            key: Arc::new(made.signing_key.serialize_der()),
        })
    }

    /// The certificate in PEM form: what a client trusts (`nl-import --ca-cert`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A TLS acceptor serving this certificate, HTTP/1.1 only.
    pub(crate) fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.as_ref().clone()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .map_err(io::Error::other)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
