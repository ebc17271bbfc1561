//! [`connect`]: a TLS client connection to `HOST:PORT`.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Connects to `authority` (`HOST:PORT`, `[V6]:PORT`) over TCP (no Nagle delay), then
/// completes a TLS handshake checking the server's certificate against `HOST` (a name or an
/// IP address). Errors say which step failed.
pub async fn connect(
    authority: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<TcpStream>, String> {
    let host = host_of(authority);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|error| format!("{host:?} is not a name or address TLS can check: {error}"))?;
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|error| format!("connecting to {authority}: {error}"))?;
    let _ = stream.set_nodelay(true);
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|error| format!("TLS handshake with {authority}: {error}"))
}

/// The host of `HOST:PORT` without an IPv6 address's brackets.
fn host_of(authority: &str) -> &str {
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _port)| host);
    host.strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_host_drops_the_port_and_brackets() {
        assert_eq!(host_of("127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host_of("[::1]:443"), "::1");
        assert_eq!(host_of("store.internal:7000"), "store.internal");
        assert_eq!(host_of("localhost"), "localhost");
    }
}
