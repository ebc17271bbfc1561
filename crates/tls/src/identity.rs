//! [`Identity`]: the CA a process trusts and the certificate it presents, read from files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TlsError;

/// Where a process's TLS material lives: the CA certificate it trusts, and its own
/// certificate and key (both or neither: a client without them can still reach a server
/// that does not ask for one, such as an API node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the CA certificate(s) every peer's certificate must chain to.
    pub ca: PathBuf,
    /// PEM: this process's certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM: the private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// A process's TLS identity: the CA it trusts and, when it has one, its own certificate and
/// key; read and checked once ([`Identity::load`]), then shared by every server and client
/// configuration built from it. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) own: Option<Arc<Own>>,
    ca_pem: Arc<[u8]>,
}

/// A certificate chain and its key, in both forms: parsed for rustls, PEM for tonic.
pub(crate) struct Own {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) chain_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

impl Identity {
    /// Reads `files`. Fails, naming the file, when one cannot be read, holds no PEM
    /// certificate (or key), or when only one of `cert` and `key` is given, or the key does
    /// not belong to the certificate.
    pub fn load(files: &TlsFiles) -> Result<Identity, TlsError> {
        let ca_pem = read(&files.ca)?;
        let mut roots = RootCertStore::empty();
        for certificate in certificates(&files.ca, &ca_pem)? {
            roots.add(certificate).map_err(|error| {
                TlsError::bad_file(&files.ca, format!("not a usable CA certificate: {error}"))
            })?;
        }
        let own = match (&files.cert, &files.key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(Arc::new(Own::load(cert, key)?)),
            (Some(_), None) => {
                return Err(TlsError::Mismatch(
                    "a TLS certificate was given without its key (--tls-key)".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(TlsError::Mismatch(
                    "a TLS key was given without its certificate (--tls-cert)".into(),
                ));
            }
        };
        let identity = Identity {
            roots: Arc::new(roots),
            own,
            ca_pem: ca_pem.into(),
        };
        // Building a configuration checks that the key is the certificate's.
        if identity.own.is_some() {
            identity.client_config()?;
        }
        Ok(identity)
    }

    /// Whether this identity has a certificate of its own (it can serve TLS, and prove who
    /// it is to a server that asks).
    pub fn has_certificate(&self) -> bool {
        self.own.is_some()
    }

    /// The CA certificate(s), PEM, as read.
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    /// This process's certificate chain and key, PEM, as read (for tonic's configuration).
    pub fn certificate_and_key_pem(&self) -> Option<(&[u8], &[u8])> {
        self.own
            .as_deref()
            .map(|own| (own.chain_pem.as_slice(), own.key_pem.as_slice()))
    }
}

impl Own {
    fn load(cert: &Path, key: &Path) -> Result<Own, TlsError> {
        let chain_pem = read(cert)?;
        let chain = certificates(cert, &chain_pem)?;
        let key_pem = read(key)?;
        let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| {
            TlsError::bad_file(key, format!("no PEM private key in it ({error})"))
        })?;
        Ok(Own {
            chain,
            key: private_key,
            chain_pem,
            key_pem,
        })
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("ca_certificates", &self.roots.len())
            .field("has_certificate", &self.has_certificate())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::io("reading", path, source))
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::bad_file(path, format!("unreadable PEM ({error})")))?;
    if certificates.is_empty() {
        return Err(TlsError::bad_file(path, "no PEM certificate in it"));
    }
    Ok(certificates)
}
