//! Redis clients as a URL's [`RedisAuth`] says: as its user, and over TLS with this
//! process's identity (trusting only its CA, presenting its certificate) for `rediss…`
//! URLs; and what a refusal of such a client looks like ([`is_refusal`]).

use redis::cluster::ClusterClientBuilder;
use redis::{ClientTlsConfig, IntoConnectionInfo, TlsCertificates};
use tiercache_core::RedisAuth;

/// A client of the Redis server at `address` (`HOST:PORT`), with `query` (`?protocol=resp3`
/// or empty) on its URL, and [`tcp_settings`].
pub fn client(address: &str, query: &str, auth: &RedisAuth) -> Result<redis::Client, String> {
    let info = auth
        .client_url(address, query)
        .into_connection_info()
        .map_err(|error| format!("{address}: {error}"))?
        .set_tcp_settings(tcp_settings());
    let built = if auth.tls() {
        redis::Client::build_with_tls(info, certificates()?)
    } else {
        redis::Client::open(info)
    };
    built.map_err(|error| format!("{address}: {error}"))
}

/// `builder` with [`tcp_settings`], and this process's certificates when `auth` asks for
/// TLS.
pub fn cluster_settings(
    builder: ClusterClientBuilder,
    auth: &RedisAuth,
) -> Result<ClusterClientBuilder, String> {
    let builder = builder.tcp_settings(tcp_settings());
    Ok(if auth.tls() {
        builder.certs(certificates()?)
    } else {
        builder
    })
}

/// How every Redis connection's socket is set: `TCP_NODELAY`, as the servers set theirs.
/// The client's default leaves Nagle's algorithm on, which holds a command back while an
/// earlier one on the same connection is unacknowledged — on a connection that carries
/// several commands at once (a node's publishes, renewals and subscriptions multiplexed)
/// that is a wait for the peer's delayed ACK.
pub fn tcp_settings() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// This process's CA, certificate and key, as the Redis client takes them.
fn certificates() -> Result<TlsCertificates, String> {
    let identity = crate::process::identity_for("a rediss:// URL")?;
    Ok(TlsCertificates {
        client_tls: identity
            .certificate_and_key_pem()
            .map(|(certificate, key)| ClientTlsConfig {
                client_cert: certificate.to_vec(),
                client_key: key.to_vec(),
            }),
        root_cert: Some(identity.ca_pem().to_vec()),
    })
}

/// Whether Redis refused who the client is (a wrong password, no authentication) or what it
/// asked (an ACL rule), rather than failed.
pub fn is_refusal(error: &redis::RedisError) -> bool {
    if error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOPERM" | "WRONGPASS" | "NOAUTH"))
    {
        return true;
    }
    // A Cluster client wraps the first connections' errors in an I/O error: only the text
    // still says what the server answered.
    let text = error.to_string();
    ["WRONGPASS", "NOPERM", "NOAUTH", "AuthenticationFailed"]
        .iter()
        .any(|refusal| text.contains(refusal))
}

/// The message of a refusal at `address`: who was refused (`role`: "the tier", "the bus",
/// with `auth`'s user), what Redis said, and the ACL rights that role needs.
pub fn refusal(
    address: &str,
    role: &str,
    auth: &RedisAuth,
    error: &redis::RedisError,
    rights: &str,
) -> String {
    format!(
        "Redis at {address} refused {role}{}: {error}; its ACL user needs {rights}",
        auth.describe()
    )
}
