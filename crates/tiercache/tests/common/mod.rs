//! What the binary's integration tests share (each test binary uses a part of it).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use tiercache_launch::{Launch, Process, Ready};

/// The binary under test.
pub fn tiercache() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tiercache"))
}

/// Runs `tiercache ARGS` in `dir` to completion; returns (success, stdout, stderr).
pub fn run(args: &[&str], dir: &Path) -> (bool, String, String) {
    let output = tiercache().args(args).current_dir(dir).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts `tiercache ARGS` in `dir` and waits (bounded) for its `lines` `listening on`
/// lines: [`Process::addresses`] holds them. Stopped (SIGTERM, then SIGKILL) on drop.
pub fn start(args: &[&str], dir: &Path, lines: usize) -> Process {
    start_with_env(args, dir, lines, &[])
}

/// [`start`] with extra environment variables.
pub fn start_with_env(args: &[&str], dir: &Path, lines: usize, env: &[(&str, &str)]) -> Process {
    let mut command = tiercache();
    command
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir);
    Launch::new(format!("tiercache {}", args[0]), command)
        .ready(Ready::listening(lines))
        .timeout(Duration::from_secs(60))
        .start()
        .unwrap_or_else(|error| panic!("{error}"))
}

/// `tiercache store` over `store.db` in `dir`, on a free loopback port.
pub fn store_service(dir: &Path) -> Process {
    start(
        &[
            "store",
            "--db",
            "sqlite://store.db",
            "--listen",
            "127.0.0.1:0",
        ],
        dir,
        1,
    )
}

/// SIGTERM, then waits (bounded) for a clean exit; returns the log (stdout and stderr).
pub fn terminate(mut process: Process) -> String {
    let status = process
        .stop_with(Signal::SIGTERM, Duration::from_secs(15))
        .unwrap();
    let log = process.log().text();
    assert!(
        status.success(),
        "{status} (killed if no exit 15 s after SIGTERM): {log}"
    );
    log
}

/// Sends `request` on a fresh connection and reads the whole answer (bounded: 10 s).
fn exchange(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// [`http_as`] over TLS, trusting and presenting `identity` (a certificate when it has
/// one): (status, JSON body), or the error that ended the exchange (a refused handshake).
pub fn https_as(
    address: &str,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
    identity: &tiercache_tls::Identity,
) -> Result<(u16, Value), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{authorization}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime.block_on(async {
        let config = identity.client_config().map_err(|e| e.to_string())?;
        let exchange = async {
            let mut stream = tiercache_tls::connect(address, config).await?;
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut answer = Vec::new();
            stream
                .read_to_end(&mut answer)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(String::from_utf8_lossy(&answer).into_owned())
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .map_err(|_| "no answer within 10 s".to_owned())?
    })?;
    let status = answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {answer:?}"))?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// `GET path` on a fresh connection: the body as text (a 200 is asserted).
pub fn http_text(address: &str, path: &str) -> String {
    let answer = exchange(
        address,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned()
}

/// One HTTP/1.1 request on a fresh connection: (status, JSON body).
pub fn http(address: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    http_as(address, method, path, body, None)
}

/// [`http`] with `Authorization: Bearer TOKEN` when `token` is given.
pub fn http_as(
    address: &str,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let answer = exchange(
        address,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{authorization}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The first bytes of `up --json`'s line.
const UP_LISTING: &str = "{\"processes\"";

/// Starts `tiercache up --json --lease-ms 600 ARGS` in `dir` (its data under
/// `dir/deployment`) with `env`; returns it and the processes it listed.
pub fn up(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Process, Vec<Value>) {
    let mut command = tiercache();
    command
        .args(["up", "--dir", "deployment", "--json", "--lease-ms", "600"])
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir);
    let up = Launch::new("tiercache up", command)
        .ready(Ready::Lines {
            prefix: UP_LISTING.to_owned(),
            count: 1,
        })
        .timeout(Duration::from_secs(90))
        .grace(Duration::from_secs(30))
        .start()
        .unwrap_or_else(|error| panic!("{error}"));
    let line = format!("{UP_LISTING}{}", up.addresses()[0]);
    let listing: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let processes = listing["processes"].as_array().unwrap().clone();
    (up, processes)
}

/// The processes of `up`'s listing with `role`, in its order.
pub fn of_role<'a>(processes: &'a [Value], role: &str) -> Vec<&'a Value> {
    processes.iter().filter(|p| p["role"] == role).collect()
}

/// The `HOST:PORT` of a listed process.
pub fn address(process: &Value) -> String {
    let url = process["url"].as_str().unwrap();
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned()
}
