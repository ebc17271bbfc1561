//! redis-server processes: single nodes, replicas, a cluster, Sentinel.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::resp::command;
use crate::{Error, Launch, Process, Ready, free_port, require_binary};

/// One redis-server (or redis-sentinel) process in its own temporary directory, with
/// persistence off. Stopped and deleted on drop.
pub struct RedisServer {
    /// Declared first so it is dropped (stopped) before its directory is deleted.
    process: Option<Process>,
    dir: TempDir,
    program: PathBuf,
    args: Vec<String>,
    port: u16,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .finish()
    }
}

impl RedisServer {
    /// A standalone node.
    pub fn start() -> Result<RedisServer, Error> {
        RedisServer::start_with(&[])
    }

    /// A standalone node with extra `redis-server` arguments, for example
    /// `["--maxmemory", "10mb", "--maxmemory-policy", "allkeys-lru"]`.
    pub fn start_with(extra: &[&str]) -> Result<RedisServer, Error> {
        let program = require_binary("redis-server", "redis-server")?;
        let args = extra.iter().map(|arg| (*arg).to_owned()).collect();
        RedisServer::spawn(program, None, args)
    }

    /// A standalone node that also serves TLS on a port of its own (the plain port stays,
    /// for set-up commands): `cert` and `key` are its certificate, and clients must present
    /// a certificate of `ca`. Returns the server and its TLS port.
    pub fn start_tls(
        ca: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<(RedisServer, u16), Error> {
        let tls_port = free_port().to_string();
        let (ca, cert, key) = (ca.display(), cert.display(), key.display());
        let (ca, cert, key) = (ca.to_string(), cert.to_string(), key.to_string());
        let server = RedisServer::start_with(&[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "yes",
        ])?;
        let port = tls_port.parse().expect("a port number");
        Ok((server, port))
    }

    /// [`RedisServer::start_tls`] with the `store` certificate of a `tiercache certs`
    /// directory (`ca.pem`, `store.pem`, `store.key`).
    pub fn start_tls_in(certs: &std::path::Path) -> Result<(RedisServer, u16), Error> {
        RedisServer::start_tls(
            &certs.join("ca.pem"),
            &certs.join("store.pem"),
            &certs.join("store.key"),
        )
    }

    /// A replica of `primary`, returned once its replication link is up.
    pub fn replica_of(primary: &RedisServer) -> Result<RedisServer, Error> {
        RedisServer::replica_of_with(primary, &[])
    }

    /// A replica of `primary` with extra `redis-server` arguments.
    pub fn replica_of_with(primary: &RedisServer, extra: &[&str]) -> Result<RedisServer, Error> {
        let port = primary.port.to_string();
        let mut args = vec!["--replicaof", "127.0.0.1", &port];
        args.extend_from_slice(extra);
        let replica = RedisServer::start_with(&args)?;
        replica.wait_for(Duration::from_secs(30), "replication link", |node| {
            node.command(&["INFO", "replication"])
                .is_ok_and(|info| info.contains("master_link_status:up"))
        })?;
        Ok(replica)
    }

    fn spawn(
        program: PathBuf,
        config: Option<String>,
        args: Vec<String>,
    ) -> Result<RedisServer, Error> {
        let dir = tempfile::Builder::new()
            .prefix("tiercache-redis-")
            .tempdir()
            .map_err(Error::io("creating the Redis directory"))?;
        let mut server = RedisServer {
            process: None,
            dir,
            program,
            args,
            port: 0,
        };
        let mut last_error = None;
        for _ in 0..3 {
            server.port = free_port();
            if let Some(config) = &config {
                let text = format!("port {}\n{config}", server.port);
                std::fs::write(server.dir.path().join("redis.conf"), text)
                    .map_err(Error::io("writing redis.conf"))?;
            }
            match server.launch(config.is_some()) {
                Ok(()) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("three attempts were made"))
    }

    fn launch(&mut self, with_config: bool) -> Result<(), Error> {
        let mut process = Command::new(&self.program);
        if with_config {
            // Sentinel rewrites its configuration file, so it must be a file of its own.
            process.arg(self.dir.path().join("redis.conf"));
        } else {
            process.args(["--port", &self.port.to_string()]);
        }
        process
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args);
        let port = self.port;
        let process = Launch::new("redis-server", process)
            .ready(Ready::probe(move |_| {
                command(port, &["PING"]).is_ok_and(|reply| reply == "PONG")
            }))
            .timeout(Duration::from_secs(15))
            .log(self.dir.path().join("redis.log"))
            .start()?;
        self.process = Some(process);
        Ok(())
    }

    /// Polls `ready` every 50 ms for at most `timeout`.
    fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut(&RedisServer) -> bool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if ready(self) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Error::NotReady {
            what: format!("{what} on port {}", self.port),
            detail: format!(
                "not ready after {timeout:?}; log:\n{}",
                self.process
                    .as_ref()
                    .map(|p| p.log().tail(20))
                    .unwrap_or_default()
            ),
        })
    }

    /// The port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.address())
    }

    /// Creates (or replaces) the ACL user `name` with `password` and `rights` (as `ACL
    /// SETUSER` takes them, space-separated: `~tc:* +@read …`). The `default` user stays
    /// as it was, so set-up commands keep working.
    pub fn add_user(&self, name: &str, password: &str, rights: &str) -> std::io::Result<()> {
        let password = format!(">{password}");
        let mut args = vec!["ACL", "SETUSER", name, "reset", "on", password.as_str()];
        args.extend(rights.split_whitespace());
        self.command(&args).map(drop)
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::id)
    }

    /// Whether it has exited (reaping it); a killed server counts as exited.
    pub fn has_exited(&mut self) -> bool {
        self.process
            .as_mut()
            .is_none_or(|process| process.try_status().is_some())
    }

    /// Its log's last `lines` lines.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process
            .as_ref()
            .map(|process| process.log().tail(lines))
            .unwrap_or_default()
    }

    /// Sends one command (see [`redis_command`](crate::redis_command)).
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        command(self.port, args)
    }

    /// Kills the process with SIGKILL (a crash); [`restart`](Self::restart) brings it back.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
        }
    }

    /// Freezes the process (SIGSTOP): it holds its connections but answers nothing.
    pub fn pause(&self) {
        if let Some(process) = &self.process {
            process.pause();
        }
    }

    /// Resumes a paused process (SIGCONT).
    pub fn resume(&self) {
        if let Some(process) = &self.process {
            process.resume();
        }
    }

    /// Starts a killed server again on the same port (with an empty dataset).
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        let with_config = self.dir.path().join("redis.conf").is_file();
        self.launch(with_config)
    }
}

/// A Redis Cluster: `primaries` primaries with `replicas_per_primary` replicas each, slots
/// assigned by `redis-cli --cluster create`.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the nodes, creates the cluster and waits until every node reports
    /// `cluster_state:ok` and knows every other node.
    pub fn start(primaries: usize, replicas_per_primary: usize) -> Result<RedisCluster, Error> {
        RedisCluster::start_with(primaries, replicas_per_primary, &[])
    }

    /// Like [`RedisCluster::start`], with extra `redis-server` arguments for every node
    /// (for example `maxmemory` and `maxmemory-policy`).
    pub fn start_with(
        primaries: usize,
        replicas_per_primary: usize,
        extra: &[&str],
    ) -> Result<RedisCluster, Error> {
        assert!(
            primaries >= 3,
            "Redis Cluster needs at least three primaries"
        );
        let count = primaries * (1 + replicas_per_primary);
        let nodes = (0..count)
            .map(|_| {
                let mut args = vec![
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    // A replica always tries to take over a failed primary: on these
                    // machines the wall clock can jump, and Redis would otherwise judge the
                    // replica's data "too old" and refuse (cluster-replica-validity-factor).
                    "--cluster-replica-validity-factor",
                    "0",
                ];
                args.extend_from_slice(extra);
                RedisServer::start_with(&args)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cli = require_binary("redis-cli", "redis-tools")?;
        let output = Command::new(cli)
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(RedisServer::address))
            .args([
                "--cluster-replicas",
                &replicas_per_primary.to_string(),
                "--cluster-yes",
            ])
            .output()
            .map_err(Error::io("running redis-cli --cluster create"))?;
        if !output.status.success() {
            return Err(Error::NotReady {
                what: "redis cluster".into(),
                detail: String::from_utf8_lossy(&output.stdout).into_owned(),
            });
        }
        let cluster = RedisCluster { nodes };
        for node in &cluster.nodes {
            node.wait_for(Duration::from_secs(30), "cluster state", |node| {
                node.command(&["CLUSTER", "INFO"]).is_ok_and(|info| {
                    info.contains("cluster_state:ok")
                        && info.contains(&format!("cluster_known_nodes:{count}"))
                })
            })?;
            // Replicas finish their first sync before the cluster counts as ready: until
            // then a primary cannot have a write acknowledged by a replica (WAIT).
            node.wait_for(Duration::from_secs(30), "replica sync", |node| {
                node.command(&["INFO", "replication"]).is_ok_and(|info| {
                    info.contains("role:master") || info.contains("master_link_status:up")
                })
            })?;
        }
        Ok(cluster)
    }

    /// Every node, primaries and replicas.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Mutable access, to kill or pause a node.
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// [`RedisServer::add_user`] on every node.
    pub fn add_user(&self, name: &str, password: &str, rights: &str) -> std::io::Result<()> {
        self.nodes
            .iter()
            .try_for_each(|node| node.add_user(name, password, rights))
    }

    /// `redis-cluster://h:p,h:p,…` over every node.
    pub fn url(&self) -> String {
        let addresses: Vec<String> = self.nodes.iter().map(RedisServer::address).collect();
        format!("redis-cluster://{}", addresses.join(","))
    }
}

/// A primary with replicas, watched by Sentinels that fail over when it stops answering
/// (down after 1 s, quorum 2).
#[derive(Debug)]
pub struct RedisSentinel {
    /// The initial primary.
    pub primary: RedisServer,
    /// Its replicas.
    pub replicas: Vec<RedisServer>,
    /// The Sentinel processes.
    pub sentinels: Vec<RedisServer>,
    master_name: String,
}

impl RedisSentinel {
    /// Starts everything and waits until every Sentinel knows the primary, every replica and
    /// every other Sentinel.
    pub fn start(
        replicas: usize,
        sentinels: usize,
        master_name: &str,
    ) -> Result<RedisSentinel, Error> {
        let primary = RedisServer::start()?;
        let replicas = (0..replicas)
            .map(|_| RedisServer::replica_of(&primary))
            .collect::<Result<Vec<_>, _>>()?;
        let program = require_binary("redis-sentinel", "redis-sentinel")?;
        let config = format!(
            "sentinel monitor {master_name} 127.0.0.1 {port} {quorum}\n\
             sentinel down-after-milliseconds {master_name} 1000\n\
             sentinel failover-timeout {master_name} 5000\n\
             sentinel parallel-syncs {master_name} 1\n",
            port = primary.port(),
            quorum = 2.min(sentinels).max(1),
        );
        let sentinels = (0..sentinels)
            .map(|_| RedisServer::spawn(program.clone(), Some(config.clone()), Vec::new()))
            .collect::<Result<Vec<_>, _>>()?;
        let setup = RedisSentinel {
            primary,
            replicas,
            sentinels,
            master_name: master_name.to_owned(),
        };
        let want_replicas = setup.replicas.len();
        let want_sentinels = setup.sentinels.len() - 1;
        for sentinel in &setup.sentinels {
            sentinel.wait_for(Duration::from_secs(30), "sentinel discovery", |s| {
                let replicas = s
                    .command(&["SENTINEL", "REPLICAS", master_name])
                    .map(|reply| {
                        reply.matches("\nname\n").count() + usize::from(reply.starts_with("name\n"))
                    })
                    .unwrap_or(0);
                let peers = s
                    .command(&["SENTINEL", "SENTINELS", master_name])
                    .map(|reply| {
                        reply.matches("\nname\n").count() + usize::from(reply.starts_with("name\n"))
                    })
                    .unwrap_or(0);
                replicas >= want_replicas && peers >= want_sentinels
            })?;
        }
        Ok(setup)
    }

    /// The name the Sentinels monitor the primary under.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// `redis-sentinel://h:p,h:p,…/MASTER`.
    pub fn url(&self) -> String {
        let addresses: Vec<String> = self.sentinels.iter().map(RedisServer::address).collect();
        format!(
            "redis-sentinel://{}/{}",
            addresses.join(","),
            self.master_name
        )
    }

    /// The port of the primary the Sentinels currently name.
    pub fn current_primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let reply = s
                .command(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &self.master_name])
                .ok()?;
            reply.lines().nth(1)?.parse().ok()
        })
    }
}
