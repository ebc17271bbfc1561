//! What the binary's integration tests share (each test binary uses a part of it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

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

/// A long-running tiercache process and the addresses it printed; killed on drop.
pub struct Running {
    child: Child,
    /// The addresses it printed, in order.
    pub addresses: Vec<String>,
}

impl Running {
    /// Starts `tiercache ARGS` and waits (bounded) for `lines` `listening on` lines.
    pub fn start(args: &[&str], dir: &Path, lines: usize) -> Running {
        Running::start_with_env(args, dir, lines, &[])
    }

    /// `tiercache store` over `store.db` in `dir`, on a free loopback port.
    pub fn store_service(dir: &Path) -> Running {
        Running::start(
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

    /// [`Running::start`] with extra environment variables.
    pub fn start_with_env(
        args: &[&str],
        dir: &Path,
        lines: usize,
        env: &[(&str, &str)],
    ) -> Running {
        let mut child = tiercache()
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addresses = Vec::new();
        while addresses.len() < lines {
            let line = receiver
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("`tiercache {}` did not print its addresses", args[0]));
            let address = line
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            addresses.push(address.to_owned());
        }
        Running { child, addresses }
    }

    /// SIGTERM, then waits (bounded) for a clean exit; returns stderr.
    pub fn terminate(mut self) -> String {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit 15 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "{status}: {stderr}");
        stderr
    }
}

impl Running {
    /// Waits (bounded) for the process to end on its own; returns its status.
    pub fn wait_exit(mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {within:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (`kill -9`): no chance to flush or say goodbye.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, JSON body).
pub fn http(address: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
