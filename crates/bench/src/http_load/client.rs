//! The HTTP/1.1 client side: one kept-alive connection to a node and one request-answer
//! exchange over it. Public so that other benchmarks (the log benchmark) drive the nodes
//! through the same client as the load generator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// A kept-alive connection to one node, over TLS when opened with a client configuration.
pub struct Connection {
    target: SocketAddr,
    tls: Option<Arc<tiercache_tls::ClientConfig>>,
    /// The `Host` header of every request (the target, as text).
    host: String,
    /// `Bearer TOKEN` for every request, when the nodes ask for a token.
    authorization: Option<hyper::header::HeaderValue>,
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects to `target` (with `TCP_NODELAY`: requests are small and latency is the
    /// measurement).
    pub async fn open(target: SocketAddr) -> Result<Connection, String> {
        Connection::open_with(target, None).await
    }

    /// [`Connection::open`], over TLS with `tls` when given (the server's certificate is
    /// checked against the target's address).
    pub async fn open_with(
        target: SocketAddr,
        tls: Option<Arc<tiercache_tls::ClientConfig>>,
    ) -> Result<Connection, String> {
        Ok(Connection {
            target,
            host: target.to_string(),
            authorization: None,
            sender: handshake(target, tls.as_ref()).await?,
            tls,
        })
    }

    /// Sends `Authorization: Bearer TOKEN` with every request from now on (none: no header).
    pub fn with_token(mut self, token: Option<&tiercache_core::Secret>) -> Connection {
        self.authorization = token.and_then(|token| {
            let mut value =
                hyper::header::HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        self
    }

    fn authorized(
        &self,
        mut request: hyper::http::request::Builder,
    ) -> hyper::http::request::Builder {
        if let Some(value) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, value.clone());
        }
        request
    }

    /// `GET path`, ready to send.
    pub fn get(&self, path: &str) -> Request<Full<Bytes>> {
        self.authorized(Request::get(path))
            .header(hyper::header::HOST, &self.host)
            .body(Full::new(Bytes::new()))
            .expect("requests built from valid parts")
    }

    /// `PUT path` with a JSON body, ready to send.
    pub fn put_json(&self, path: &str, body: String) -> Request<Full<Bytes>> {
        self.authorized(Request::put(path))
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("requests built from valid parts")
    }

    /// `POST path` with `body` as it is (`application/octet-stream`) and `headers`, ready
    /// to send.
    pub fn post(&self, path: &str, body: Bytes, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
        let mut request = self
            .authorized(Request::post(path))
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream");
        for &(name, value) in headers {
            request = request.header(name, value);
        }
        request
            .body(Full::new(body))
            .expect("requests built from valid parts")
    }

    /// Sends `request` once the connection is ready and reads the whole answer:
    /// `(status, body)`. An error means the connection is gone (see [`Self::reopen`]).
    pub async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, body.to_bytes()))
    }

    /// Replaces a connection that failed; when the node does not answer either, waits a
    /// little so a worker facing a dead node does not spin (its request count bounds the
    /// attempts).
    pub async fn reopen(&mut self) {
        match handshake(self.target, self.tls.as_ref()).await {
            Ok(fresh) => self.sender = fresh,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn handshake(
    target: SocketAddr,
    tls: Option<&Arc<tiercache_tls::ClientConfig>>,
) -> Result<SendRequest<Full<Bytes>>, String> {
    if let Some(tls) = tls {
        let stream = tiercache_tls::connect(&target.to_string(), Arc::clone(tls)).await?;
        return http1(stream).await;
    }
    let stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    http1(stream).await
}

async fn http1<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}
