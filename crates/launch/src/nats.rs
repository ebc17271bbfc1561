//! nats-server processes: a JetStream cluster on loopback, the baseline of the log benchmark.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{Error, Launch, Process, Ready, find_binary, free_port, port_open};

/// The name every server gives its cluster.
const CLUSTER_NAME: &str = "tiercache-bench";

/// How long the servers may take to elect a JetStream meta leader and catch up with it.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// One nats-server of a [`NatsCluster`].
#[derive(Debug)]
pub struct NatsServer {
    process: Process,
    name: String,
    client_port: u16,
    monitor_port: u16,
}

impl NatsServer {
    /// Its `server_name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `nats://127.0.0.1:PORT`, for clients.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    /// Its process (to kill, pause or read the log of).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// The body of `GET path` on its monitoring port (`/healthz`, `/routez`, `/jsz`, …).
    pub fn monitor(&self, path: &str) -> std::io::Result<String> {
        http_get(self.monitor_port, path)
    }
}

/// A JetStream cluster of `nats-server` processes, each with its client, cluster (route) and
/// monitoring port on 127.0.0.1 and its store in a temporary directory, stopped (SIGTERM,
/// then SIGKILL) and deleted on drop.
///
/// [`NatsCluster::start`] returns once every server reports itself healthy on `/healthz`: a
/// JetStream meta leader is elected and the server is current with it. A stream with as many
/// replicas as servers may still be refused for a moment after that (the meta leader has not
/// heard of every peer yet): clients retry its creation for a bounded time.
///
/// ```no_run
/// use tiercache_launch::NatsCluster;
///
/// let cluster = NatsCluster::start(3, &[])?;
/// println!("connect to {}", cluster.urls().join(","));
/// # Ok::<(), tiercache_launch::Error>(())
/// ```
#[derive(Debug)]
pub struct NatsCluster {
    /// Declared first so they are stopped before their directory is deleted.
    servers: Vec<NatsServer>,
    dir: TempDir,
}

impl NatsCluster {
    /// Starts `size` servers routed to each other (one server alone runs plain JetStream,
    /// without a cluster), with `jetstream` as extra lines of every server's
    /// `jetstream { … }` block (for example `["sync_interval: always"]` on a server that
    /// knows the option: see [`NatsCluster::accepts_jetstream_option`]).
    ///
    /// The ports are picked free just before the start; when another process takes one in
    /// between, the whole cluster is started again on new ports (three attempts).
    pub fn start(size: usize, jetstream: &[&str]) -> Result<NatsCluster, Error> {
        assert!(size >= 1, "a cluster has at least one server");
        let program = NatsCluster::program()?;
        let mut last_error = None;
        for _ in 0..3 {
            match NatsCluster::launch(&program, size, jetstream) {
                Ok(cluster) => return Ok(cluster),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("three attempts were made"))
    }

    fn launch(program: &Path, size: usize, jetstream: &[&str]) -> Result<NatsCluster, Error> {
        let dir = tempfile::Builder::new()
            .prefix("tiercache-nats-")
            .tempdir()
            .map_err(Error::io("creating the NATS directory"))?;
        let ports: Vec<[u16; 3]> = distinct_free_ports(3 * size)
            .chunks(3)
            .map(|chunk| [chunk[0], chunk[1], chunk[2]])
            .collect();
        let mut servers = Vec::with_capacity(size);
        for (n, &[client_port, cluster_port, monitor_port]) in ports.iter().enumerate() {
            let name = format!("n{n}");
            let store = dir.path().join(&name);
            let routes: Vec<String> = ports
                .iter()
                .filter(|[_, cluster, _]| *cluster != cluster_port)
                .map(|[_, cluster, _]| format!("nats-route://127.0.0.1:{cluster}"))
                .collect();
            let config = server_config(
                &name,
                [client_port, cluster_port, monitor_port],
                &routes,
                &jetstream_block(&store, jetstream),
            );
            let path = dir.path().join(format!("{name}.conf"));
            std::fs::write(&path, config).map_err(Error::io(format!("writing {name}.conf")))?;
            let mut command = Command::new(program);
            command.arg("-c").arg(&path);
            // Each server is ready once it accepts clients and serves its monitoring port;
            // the cluster is awaited below, when all of them run.
            let process = Launch::new(format!("nats-server {name}"), command)
                .ready(Ready::probe(move |_| {
                    port_open(client_port) && port_open(monitor_port)
                }))
                .timeout(Duration::from_secs(15))
                .log(dir.path().join(format!("{name}.log")))
                .start()?;
            servers.push(NatsServer {
                process,
                name,
                client_port,
                monitor_port,
            });
        }
        let cluster = NatsCluster { servers, dir };
        cluster.wait_healthy(CLUSTER_TIMEOUT)?;
        Ok(cluster)
    }

    /// Polls every server's `/healthz` until all say `ok`, for at most `timeout`.
    fn wait_healthy(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        for server in &self.servers {
            loop {
                let health = server.monitor("/healthz");
                if health.as_deref().is_ok_and(|body| body.contains("\"ok\"")) {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(Error::NotReady {
                        what: format!("nats-server {} in a JetStream cluster", server.name),
                        detail: format!(
                            "not healthy after {timeout:?} ({health:?}); log:\n{}",
                            server.process.log().tail(20)
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// The nats-server program: on `PATH`, or in `/usr/sbin`, where the Debian package puts
    /// it (not on the `PATH` of users other than root); else an error naming the package.
    pub fn program() -> Result<PathBuf, Error> {
        find_binary("nats-server", &[PathBuf::from("/usr/sbin")]).ok_or_else(|| Error::Missing {
            binary: "nats-server".into(),
            package: "nats-server".into(),
        })
    }

    /// Whether the installed nats-server accepts `line` inside a `jetstream { … }` block
    /// (`nats-server -t`: reads the configuration and exits). `sync_interval`, for one,
    /// came with nats-server 2.10.
    pub fn accepts_jetstream_option(line: &str) -> Result<bool, Error> {
        let program = NatsCluster::program()?;
        let dir = tempfile::tempdir().map_err(Error::io("creating a temporary directory"))?;
        let path = dir.path().join("check.conf");
        let text = jetstream_block(&dir.path().join("store"), &[line]);
        std::fs::write(&path, text).map_err(Error::io("writing check.conf"))?;
        let output = Command::new(program)
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .output()
            .map_err(Error::io("running nats-server -t"))?;
        Ok(output.status.success())
    }

    /// The installed nats-server's version, as it prints it (`nats-server: v2.9.10`).
    pub fn version() -> Result<String, Error> {
        let program = NatsCluster::program()?;
        let output = Command::new(program)
            .arg("--version")
            .output()
            .map_err(Error::io("running nats-server --version"))?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Every server, in start order.
    pub fn servers(&self) -> &[NatsServer] {
        &self.servers
    }

    /// Mutable access, to kill or pause a server.
    pub fn servers_mut(&mut self) -> &mut [NatsServer] {
        &mut self.servers
    }

    /// Every server's client URL, in start order.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(NatsServer::url).collect()
    }

    /// The directory of the configuration files, logs (`nN.log`) and stores.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `count` free loopback ports, no two alike (the OS may hand out a port again once it was
/// let go).
fn distinct_free_ports(count: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::with_capacity(count);
    while ports.len() < count {
        let port = free_port();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

/// A server's configuration: its name, its three listeners, its `jetstream` block, and
/// routes to the other servers of the cluster. A server alone gets no `cluster` block
/// (nats-server refuses a clustered JetStream without routes): plain JetStream.
fn server_config(
    name: &str,
    [client, cluster, monitor]: [u16; 3],
    routes: &[String],
    jetstream: &str,
) -> String {
    let mut config = format!(
        "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n{jetstream}"
    );
    if !routes.is_empty() {
        config.push_str(&format!(
            "cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{cluster}\n  routes: [{}]\n}}\n",
            routes.join(", ")
        ));
    }
    config
}

/// A `jetstream { … }` block storing under `store`, with `extra` lines.
fn jetstream_block(store: &Path, extra: &[&str]) -> String {
    let mut block = format!(
        "jetstream {{\n  store_dir: {:?}\n",
        store.display().to_string()
    );
    for line in extra {
        block.push_str("  ");
        block.push_str(line);
        block.push('\n');
    }
    block.push_str("}\n");
    block
}

/// The body of `GET path` on a loopback port (HTTP/1.0, bounded to 2 s).
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer
        .split_once("\r\n\r\n")
        .map_or(answer.as_str(), |(_, body)| body)
        .to_owned())
}
