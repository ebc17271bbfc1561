//! TLS between tiercache's roles.
//!
//! Every role-to-role connection can be mutual TLS: the store's gRPC service, the log
//! nodes' and admins' HTTP APIs; API nodes can serve their clients over TLS (clients prove
//! who they are with tokens there). All certificates come from files; `tiercache certs`
//! writes a local CA and one certificate per role for `up` and for tests.
//!
//! # Guarantees
//! - A server built from [`Identity::server_config`] with [`ClientAuth::Required`] completes
//!   a handshake only with a client whose certificate chains to the identity's CA; anything
//!   else (no certificate, another CA's, an expired one) is refused in the handshake, before
//!   a byte of a request is read.
//! - A client built from [`Identity::client_config`] trusts only that CA (never the system's
//!   roots) and checks the server's name or address against its certificate.
//! - Key material never shows in `Debug` output or errors.
//! - One crypto provider, ring: no C build, and no panic from two providers being linked.
//!
//! # Layout
//! - [`TlsFiles`] and [`Identity`]: the CA, certificate and key of this process, read and
//!   checked once.
//! - [`ClientAuth`], [`Identity::server_config`], [`Identity::client_config`]: rustls
//!   configurations.
//! - [`TlsListener`]: a TCP listener whose handshakes run beside the accept loop (a slow or
//!   failing handshake never holds the others), for `axum::serve`.
//! - [`connect`]: a client connection to `HOST:PORT`.
//! - [`process`]: the identity the running binary presents to its peers.
//! - [`certs`]: a local CA and per-role certificates (`tiercache certs`).
//! - `redis_client` (feature `redis`): Redis clients as a URL says, over TLS for `rediss…`.

/// A local CA and per-role certificates: [`certs::generate`].
pub mod certs;
/// rustls server and client configurations of an identity.
mod config;
/// A client connection over TLS: [`connect`].
mod connect;
/// Why TLS could not be set up: [`TlsError`].
mod error;
/// The CA, certificate and key of a process: [`Identity`].
mod identity;
/// A listener that completes handshakes beside its accept loop: [`TlsListener`].
mod listener;
/// The identity of the running binary, set once at start.
pub mod process;
/// Redis clients over TLS (`rediss://`) with the process identity.
#[cfg(feature = "redis")]
pub mod redis_client;

pub use config::ClientAuth;
pub use connect::connect;
pub use error::TlsError;
pub use identity::{Identity, TlsFiles};
pub use listener::{DEFAULT_HANDSHAKE_TIMEOUT, TlsListener};
pub use rustls::{ClientConfig, ServerConfig};
pub use tokio_rustls::{TlsAcceptor, client::TlsStream as ClientTlsStream, server::TlsStream};

/// The one crypto provider of every configuration built here. rustls marks ring's provider
/// deprecated for lacking post-quantum key exchange; the alternative, aws-lc-rs, needs a C
/// build these machines avoid, and tonic's `tls-ring` uses this same provider.
#[allow(deprecated)]
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
