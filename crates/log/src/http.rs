//! One HTTP/1.1 request on a fresh connection, bounded in time: what the control plane's
//! roles send each other (the admins' heartbeats and assignments, catch-up between log
//! nodes, an API node's reads of a log's copies).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// `METHOD base + path` with an optional JSON body; (status, body) or why it failed. `base`
/// is `http://HOST:PORT` (a bare `HOST:PORT` is accepted too), or `https://HOST:PORT`: TLS
/// presenting this process's identity ([`tiercache_tls::process`]), as the roles' mutual TLS
/// asks.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    request_with_token(base, method, path, body, None, timeout).await
}

/// [`request`] with `Authorization: Bearer TOKEN` when `token` is given (an API node's
/// routes, when it asks for tokens).
pub async fn request_with_token(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let (tls, authority) = match base.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, base.strip_prefix("http://").unwrap_or(base)),
    };
    let authority = authority.trim_end_matches('/').to_owned();
    let exchange = async {
        let mut sender = if tls {
            let identity = tiercache_tls::process::identity_for(base)?;
            let config = identity
                .client_config()
                .map_err(|error| format!("TLS for {base}: {error}"))?;
            handshake(
                tiercache_tls::connect(&authority, config).await?,
                &authority,
            )
            .await?
        } else {
            let stream = tokio::net::TcpStream::connect(&authority)
                .await
                .map_err(|error| format!("connecting to {authority}: {error}"))?;
            handshake(stream, &authority).await?
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &authority)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|error| format!("building the request: {error}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| format!("{method} {path} on {authority}: {error}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("reading the answer of {authority}: {error}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{method} {path} on {authority}: no answer within {timeout:?}"
            ))
        })
}

/// HTTP/1.1 over `stream`, its connection driven by a task of its own.
async fn handshake<S>(
    stream: S,
    authority: &str,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("HTTP handshake with {authority}: {error}"))?;
    tokio::spawn(connection);
    Ok(sender)
}
