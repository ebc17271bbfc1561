//! rustls configurations of an [`Identity`]: a server's, asking for client certificates or
//! not, and a client's.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};

use crate::error::TlsError;
use crate::identity::Identity;

/// Whether a server asks its clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Mutual TLS: a client without a certificate chaining to the CA is refused in the
    /// handshake. Between roles.
    Required,
    /// Server authentication only: clients prove who they are otherwise (an API node's
    /// tokens).
    None,
}

impl Identity {
    /// A server configuration presenting this identity's certificate. Fails when the
    /// identity has none, or its key does not match it.
    pub fn server_config(&self, client_auth: ClientAuth) -> Result<Arc<ServerConfig>, TlsError> {
        let own = self.own.as_deref().ok_or_else(|| {
            TlsError::Mismatch(
                "serving TLS needs a certificate and key (--tls-cert, --tls-key)".into(),
            )
        })?;
        let builder = ServerConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Mismatch(error.to_string()))?;
        let builder = match client_auth {
            ClientAuth::Required => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::clone(&self.roots),
                    crate::provider(),
                )
                .build()
                .map_err(|error| {
                    TlsError::Mismatch(format!("the CA cannot verify clients: {error}"))
                })?;
                builder.with_client_cert_verifier(verifier)
            }
            ClientAuth::None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(own.chain.clone(), own.key.clone_key())
            .map_err(|error| {
                TlsError::Mismatch(format!("the TLS key does not fit the certificate: {error}"))
            })?;
        Ok(Arc::new(config))
    }

    /// A client configuration trusting only this identity's CA, presenting its certificate
    /// when it has one.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let builder = ClientConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Mismatch(error.to_string()))?
            .with_root_certificates(Arc::clone(&self.roots));
        let config = match self.own.as_deref() {
            Some(own) => builder
                .with_client_auth_cert(own.chain.clone(), own.key.clone_key())
                .map_err(|error| {
                    TlsError::Mismatch(format!("the TLS key does not fit the certificate: {error}"))
                })?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}
