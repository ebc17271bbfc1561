//! The identity the running binary presents to its peers.
//!
//! A process has one TLS identity (its role's certificate), set once when it starts from
//! `--tls-ca`, `--tls-cert` and `--tls-key`. The clients that reach other roles by an
//! `https://` URL deep inside the library crates (the store client, the control plane's HTTP
//! requests) use it, so the identity need not be threaded through every constructor. Tests
//! that need two identities in one process build their configurations from [`Identity`]
//! directly.

use std::sync::OnceLock;

use crate::identity::Identity;

static PROCESS_IDENTITY: OnceLock<Identity> = OnceLock::new();

/// Sets this process's identity. Only the first call takes effect; it answers whether this
/// one did.
pub fn install(identity: Identity) -> bool {
    PROCESS_IDENTITY.set(identity).is_ok()
}

/// This process's identity, if one was installed.
pub fn identity() -> Option<&'static Identity> {
    PROCESS_IDENTITY.get()
}

/// This process's identity, or an error for a caller about to reach `url` over TLS without
/// one.
pub fn identity_for(url: &str) -> Result<&'static Identity, String> {
    identity().ok_or_else(|| {
        format!(
            "{url} is reached over TLS, but no CA to check it with was given \
             (--tls-ca, and --tls-cert/--tls-key where the peer asks for a client certificate)"
        )
    })
}
