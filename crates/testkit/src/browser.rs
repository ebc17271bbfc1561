//! A real browser for page tests: headless Chromium (Debian's `chromium`), driven over the
//! DevTools protocol on a loopback port — open a page, evaluate script in it, take a
//! screenshot, and collect every console error, uncaught exception and failed load.
//!
//! Nothing is skipped: without `chromium` installed, [`Browser::launch`] fails with an error
//! naming the package, and the test fails with it. Every wait is bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::free_port;

/// How long the browser has to start, and a command to answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A headless Chromium on a free loopback port, killed on drop.
pub struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromium` (or `$CHROMIUM`) headless with a fresh profile.
    pub fn launch() -> Result<Browser, String> {
        let program = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
        let profile = tempfile::tempdir().map_err(|e| format!("a profile directory: {e}"))?;
        let port = free_port();
        let child = Command::new(&program)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1366,900",
                "--remote-debugging-address=127.0.0.1",
                &format!("--remote-debugging-port={port}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| {
                format!(
                    "cannot start {program} ({error}): install Debian's `chromium` package \
                     (scripts/test.sh does) or set CHROMIUM to a Chromium binary"
                )
            })?;
        let mut browser = Browser {
            child,
            port,
            _profile: profile,
        };
        let deadline = Instant::now() + TIMEOUT;
        while http(port, "GET", "/json/version").is_err() {
            if let Ok(Some(status)) = browser.child.try_wait() {
                return Err(format!("{program} exited at start: {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{program} did not open its DevTools port within 30 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(browser)
    }

    /// Opens `url` in a new tab and waits (bounded) for its load event.
    pub fn open(&mut self, url: &str) -> Result<Page, String> {
        let target: Value = serde_json::from_str(&http(self.port, "PUT", "/json/new?about:blank")?)
            .map_err(|e| format!("DevTools /json/new: {e}"))?;
        let socket_url = target["webSocketDebuggerUrl"]
            .as_str()
            .ok_or("DevTools gave no webSocketDebuggerUrl")?
            .to_owned();
        let stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let (socket, _) =
            tungstenite::client(socket_url.as_str(), stream).map_err(|e| e.to_string())?;
        let mut page = Page {
            socket,
            next_id: 0,
            events: Vec::new(),
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.call(domain, json!({}))?;
        }
        page.call("Page.navigate", json!({ "url": url }))?;
        page.wait_for_event("Page.loadEventFired")?;
        Ok(page)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One open tab.
pub struct Page {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Events received so far (`method`, `params`), in order.
    events: Vec<Value>,
}

impl Page {
    /// Sends a DevTools command and waits (bounded) for its result.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket
            .send(Message::text(message))
            .map_err(|e| format!("{method}: {e}"))?;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(answer) = self.receive(deadline, method)?
                && answer["id"].as_u64() == Some(id)
            {
                if let Some(error) = answer.get("error") {
                    return Err(format!("{method}: {error}"));
                }
                return Ok(answer["result"].clone());
            }
        }
    }

    /// The next message, `None` after a quiet read timeout; events are kept.
    fn receive(&mut self, deadline: Instant, doing: &str) -> Result<Option<Value>, String> {
        if Instant::now() > deadline {
            return Err(format!("{doing}: no answer from the browser within 30 s"));
        }
        match self.socket.read() {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if value.get("method").is_some() {
                    self.events.push(value.clone());
                }
                Ok(Some(value))
            }
            Ok(_) => Ok(None),
            Err(tungstenite::Error::Io(error))
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                Ok(None)
            }
            Err(error) => Err(format!("{doing}: {error}")),
        }
    }

    fn wait_for_event(&mut self, method: &str) -> Result<(), String> {
        let deadline = Instant::now() + TIMEOUT;
        while !self.events.iter().any(|e| e["method"] == method) {
            self.receive(deadline, method)?;
        }
        Ok(())
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(exception) = result.get("exceptionDetails") {
            return Err(format!("{expression}: {exception}"));
        }
        Ok(result["result"]["value"].clone())
    }

    /// Evaluates `expression` every 100 ms until it is truthy (bounded by `timeout`);
    /// returns its last value.
    pub fn wait_until(&mut self, expression: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression)?;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(format!("`{expression}` still {value} after {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a PNG of the whole page at `path` (its folder is created).
    pub fn screenshot(&mut self, path: &Path) -> Result<(), String> {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        )?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().ok_or("no screenshot data")?)
            .map_err(|e| e.to_string())?;
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every console error, uncaught exception and error log entry (failed loads, blocked
    /// requests) the page produced so far, as text.
    pub fn errors(&mut self) -> Vec<String> {
        // Drain what has arrived.
        let _ = self.eval("0");
        let mut errors = Vec::new();
        for event in &self.events {
            let params = &event["params"];
            match event["method"].as_str() {
                Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                    errors.push(format!("console.error: {}", params["args"]));
                }
                Some("Runtime.exceptionThrown") => {
                    errors.push(format!("exception: {}", params["exceptionDetails"]));
                }
                Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                    errors.push(format!(
                        "{}: {} {}",
                        params["entry"]["source"], params["entry"]["text"], params["entry"]["url"]
                    ));
                }
                _ => {}
            }
        }
        errors
    }
}

/// One plain HTTP request to the DevTools port: the body.
fn http(port: u16, method: &str, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    // The DevTools server keeps the connection open: read by Content-Length.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let read = stream.read(&mut buffer).map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the DevTools port closed before answering".to_owned());
        }
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        if !head.starts_with("HTTP/1.1 200") {
            return Err(head.lines().next().unwrap_or("").to_owned());
        }
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            })
            .unwrap_or(0);
        if body.len() >= length {
            return Ok(body.to_owned());
        }
    }
}
