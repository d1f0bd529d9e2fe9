//! TLS for the hub's listener: loading the certificate chain and private key from PEM files, and
//! the rustls server configuration.
//!
//! Browsers open at most six HTTP/1.1 connections per origin, so a page with several event
//! streams stalls over HTTP/1.1; over TLS the hub offers HTTP/2 by ALPN (`h2`, then `http/1.1`),
//! and every stream of a page shares one connection. The crypto provider is `ring`, named
//! explicitly so that no process-wide default has to be installed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The PEM files of the hub's certificate and key (`--tls-cert`, `--tls-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first, as PEM `CERTIFICATE` blocks.
    pub cert: PathBuf,
    /// The private key of the leaf certificate: PEM PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: PathBuf,
}

/// Accepts TLS on accepted TCP connections.
pub type TlsAcceptor = tokio_rustls::TlsAcceptor;

/// Reads both files and builds the acceptor; the error names the file and what is wrong with it.
pub fn load(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "the TLS key {} does not belong to the certificate {}: {e} (give the key the certificate was issued for)",
                files.key.display(),
                files.cert.display()
            ),
            e => format!("unusable TLS key file {} or certificate file {}: {e}", files.key.display(), files.cert.display()),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} file {}: {e}", path.display()))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path, "certificate")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid TLS certificate file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "invalid TLS certificate file {}: no PEM CERTIFICATE block found (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path, "key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "invalid TLS key file {}: {e} (expected a PEM private key: PKCS#8, PKCS#1 RSA or SEC1 EC)",
            path.display()
        )
    })
}
