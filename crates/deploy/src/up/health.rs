//! Whether a started child answers: the store through a registry call over gRPC, admins and
//! API nodes through `GET /healthz`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tiercache_store::{Limits, Registry, StoreClient};

use super::plan::Role;

/// Polls the child's health check every 50 ms until it passes or `within` runs out; the last
/// failure otherwise.
pub(crate) fn wait_healthy(role: Role, url: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let checked = match role {
            Role::Store => store_answers(url),
            Role::Admin | Role::Log | Role::Api => healthz(url),
            Role::Redis => Ok(()), // the launcher's PING probe already passed
        };
        match checked {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A registry lookup over gRPC: the service runs and its database answers.
fn store_answers(url: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let client = StoreClient::connect(url, Limits::default())
            .await
            .map_err(|error| error.to_string())?;
        client
            .lookup("store")
            .await
            .map(drop)
            .map_err(|error| error.to_string())
    })
}

/// `GET /healthz` answers 200 (over TLS, presenting this process's identity, for an
/// `https://` URL).
fn healthz(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| error.to_string())?;
        let (status, _) = runtime.block_on(tiercache_log::http::request(
            url,
            "GET",
            "/healthz",
            None,
            Duration::from_secs(2),
        ))?;
        return match status {
            200 => Ok(()),
            other => Err(format!("/healthz answered {other}")),
        };
    }
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|error| error.to_string())?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|error| error.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|error| error.to_string())?;
    if answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "/healthz answered {}",
            answer.lines().next().unwrap_or("nothing")
        ))
    }
}
