//! The TLS flags every command takes (`--tls-ca`, `--tls-cert`, `--tls-key`): this process's
//! identity, read once at start and installed for every client inside the libraries (see
//! `tiercache_tls::process`). With a certificate, the roles' listeners serve TLS: mutual TLS
//! for the store, admins and log nodes, server TLS for API nodes (their clients use tokens).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use tiercache_tls::{Identity, TlsFiles};

/// The TLS flags.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// PEM file of the CA every peer's certificate must chain to. Needed to reach an
    /// `https://` URL; with --tls-cert and --tls-key, this process's listeners serve TLS
    /// (`tiercache certs --dir DIR` writes a local CA and one certificate per role)
    #[arg(long, global = true, value_name = "FILE", env = "TIERCACHE_TLS_CA")]
    tls_ca: Option<PathBuf>,

    /// PEM file of this process's certificate: presented to peers that ask (mutual TLS
    /// between roles) and served by its listeners. Needs --tls-key and --tls-ca
    #[arg(long, global = true, value_name = "FILE", env = "TIERCACHE_TLS_CERT")]
    tls_cert: Option<PathBuf>,

    /// PEM file of the private key of --tls-cert (keep it readable by this user only)
    #[arg(long, global = true, value_name = "FILE", env = "TIERCACHE_TLS_KEY")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Reads the files and installs the identity for this process; nothing when no flag
    /// was given. Errors name the file and never show key material.
    pub fn install(&self) -> anyhow::Result<()> {
        let Some(ca) = &self.tls_ca else {
            anyhow::ensure!(
                self.tls_cert.is_none() && self.tls_key.is_none(),
                "--tls-cert and --tls-key need --tls-ca (the CA peers' certificates chain to)"
            );
            return Ok(());
        };
        let identity = Identity::load(&TlsFiles {
            ca: ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
        })
        .context("reading the TLS files")?;
        tiercache_tls::process::install(identity);
        Ok(())
    }
}

/// The identity this process serves TLS with: installed, and with a certificate.
pub fn serving_identity() -> Option<Identity> {
    tiercache_tls::process::identity()
        .filter(|identity| identity.has_certificate())
        .cloned()
}

/// `http` or `https`: the scheme of this process's own HTTP URLs (what it registers in the
/// binder).
pub fn scheme() -> &'static str {
    if serving_identity().is_some() {
        "https"
    } else {
        "http"
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish: mutual TLS when this process has a certificate (the control plane's HTTP APIs,
/// the store's `/metrics`), plain HTTP otherwise.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match serving_identity() {
        Some(identity) => {
            let config = identity
                .server_config(tiercache_tls::ClientAuth::Required)
                .map_err(std::io::Error::other)?;
            let listener = tiercache_tls::TlsListener::new(
                listener,
                config,
                tiercache_tls::DEFAULT_HANDSHAKE_TIMEOUT,
            )?;
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}
