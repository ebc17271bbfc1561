//! What `tiercache up` starts: [`UpOptions`] turned into the children's command lines, in
//! start order.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use tiercache_core::ByteSize;

use super::secrets::UpAuth;

/// The roles `up` starts, in the order it starts them (and stops them in reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The store service (SA), which is also the binder.
    Store,
    /// A redis-server of the shared tier (and the bus).
    Redis,
    /// An admin instance (NA).
    Admin,
    /// A log node (NL).
    Log,
    /// An API node (NP).
    Api,
}

impl Role {
    /// Its name in the table and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Store => "store",
            Role::Redis => "redis",
            Role::Admin => "admin",
            Role::Log => "log",
            Role::Api => "api",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Redis topology under the API nodes, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpTier {
    /// No shared tier and no bus between processes.
    None,
    /// One redis-server: the shared tier and the bus.
    Redis,
    /// A Redis Cluster of three primaries with a replica each (sharded pub/sub for the bus).
    RedisCluster,
    /// A primary with two replicas (reads from the replicas; the bus on the primary).
    RedisReplicated,
}

impl FromStr for UpTier {
    type Err = String;

    fn from_str(text: &str) -> Result<UpTier, String> {
        match text {
            "none" => Ok(UpTier::None),
            "redis" => Ok(UpTier::Redis),
            "redis-cluster" => Ok(UpTier::RedisCluster),
            "redis-replicated" => Ok(UpTier::RedisReplicated),
            other => Err(format!(
                "unknown tier `{other}`: use none, redis, redis-cluster or redis-replicated"
            )),
        }
    }
}

/// Everything `up` needs to know.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The tiercache binary every child runs (the running one).
    pub binary: PathBuf,
    /// Where the SQLite database (unless `db`) and the children's logs (`logs/`) go.
    pub dir: PathBuf,
    /// A database URL for the store instead of SQLite under `dir`.
    pub db: Option<String>,
    /// How many API nodes.
    pub nodes: usize,
    /// How many admin instances.
    pub admins: usize,
    /// How many log nodes (they need a bus: Redis).
    pub log_nodes: usize,
    /// The Redis topology, if any.
    pub tier: UpTier,
    /// Each redis-server's `maxmemory`.
    pub maxmemory: ByteSize,
    /// Each redis-server's `maxmemory-policy` (one of Redis's eight).
    pub maxmemory_policy: String,
    /// The admins' lease, in ms.
    pub lease_ms: u64,
    /// Restart a child that exits, with backoff.
    pub restart: bool,
    /// Arguments every child gets before its subcommand (the logging flags given to `up`).
    pub child_args: Vec<String>,
    /// The API nodes' tokens and the admins' (none: the nodes ask for no token).
    pub auth: Option<UpAuth>,
    /// Flags every API node gets after its own (limits, outbox, replica wait), as given to
    /// `up`.
    pub api_args: Vec<String>,
    /// TLS between every role: a directory of `tiercache certs` (an absolute path); each
    /// child gets its role's certificate and serves TLS, and every URL is `https://`.
    pub certs: Option<PathBuf>,
    /// Redis with access control: an ACL user per role (API nodes, log nodes) with only the
    /// rights it needs, a password on the `default` user.
    pub redis_users: bool,
}

/// One tiercache child: its role, id, port and arguments (without `--listen`, which is
/// added with its port).
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Its role.
    pub role: Role,
    /// Its id (also its log's name).
    pub id: String,
    /// The loopback port it listens on, kept across restarts.
    pub port: u16,
    /// Its command line after the binary, `--listen` included.
    pub args: Vec<String>,
    /// Whether it serves TLS.
    pub tls: bool,
    /// Environment variables it gets (a password file's path, never a password).
    pub env: Vec<(String, String)>,
}

impl ChildSpec {
    /// How `up` names it on stderr: `store`, `admin admin-1`, `api api-2`.
    pub fn name(&self) -> String {
        if self.id == self.role.as_str() {
            self.id.clone()
        } else {
            format!("{} {}", self.role, self.id)
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl UpOptions {
    /// Refuses settings that cannot make a deployment, with a message naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.nodes) {
            return Err(format!("--nodes must be from 1 to 64, got {}", self.nodes));
        }
        if self.log_nodes > 64 {
            return Err(format!(
                "--log-nodes must be from 0 to 64, got {}",
                self.log_nodes
            ));
        }
        if !(30..=600_000).contains(&self.lease_ms) {
            return Err(format!(
                "--lease-ms must be from 30 to 600000, got {}",
                self.lease_ms
            ));
        }
        if let Some(db) = &self.db
            && !(db.starts_with("postgres://")
                || db.starts_with("postgresql://")
                || db.starts_with("sqlite://"))
        {
            return Err(format!(
                "--db must be a postgres://… or sqlite://… URL, got `{db}`"
            ));
        }
        Ok(())
    }

    /// The store's database URL.
    pub fn database(&self) -> String {
        self.db
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.dir.join("tiercache.db").display()))
    }

    /// The store's child, on `port`.
    pub fn store(&self, port: u16) -> ChildSpec {
        self.spec(
            Role::Store,
            "store".to_owned(),
            port,
            vec!["store".into(), "--db".into(), self.database()],
        )
    }

    /// The admins' children, on `ports`, over the store at `store`.
    pub fn admins(&self, store: &str, ports: &[u16]) -> Vec<ChildSpec> {
        ports
            .iter()
            .enumerate()
            .map(|(n, &port)| {
                let id = format!("admin-{}", n + 1);
                let mut args = vec![
                    "admin".into(),
                    "--store".into(),
                    store.into(),
                    "--id".into(),
                    id.clone(),
                    "--lease-ms".into(),
                    self.lease_ms.to_string(),
                ];
                if let Some(auth) = &self.auth {
                    args.extend([
                        "--api-token-file".into(),
                        auth.admin_token.display().to_string(),
                    ]);
                }
                self.spec(Role::Admin, id, port, args)
            })
            .collect()
    }

    /// The log nodes' children, on `ports`, over the store at `store` and the bus at `bus`,
    /// each with its data under `dir/log-N`.
    pub fn log_nodes(&self, store: &str, bus: &str, ports: &[u16]) -> Vec<ChildSpec> {
        ports
            .iter()
            .enumerate()
            .map(|(n, &port)| {
                let id = format!("log-{}", n + 1);
                let data = self.dir.join(&id);
                let args = vec![
                    "lognode".into(),
                    "--store".into(),
                    store.into(),
                    "--bus".into(),
                    bus.into(),
                    "--id".into(),
                    id.clone(),
                    "--data".into(),
                    data.display().to_string(),
                ];
                self.spec(Role::Log, id, port, args)
            })
            .collect()
    }

    /// The API nodes' children, on `ports`, over the store at `store`, with the shared tier
    /// URL and the bus URL when there is Redis (a bus alone when Redis runs only for the
    /// logs). Without a bus between them, several nodes run with no near cache: a copy one
    /// node kept could outlive another node's write.
    pub fn api_nodes(
        &self,
        store: &str,
        tier: Option<&str>,
        bus: Option<&str>,
        ports: &[u16],
    ) -> Vec<ChildSpec> {
        ports
            .iter()
            .enumerate()
            .map(|(n, &port)| {
                let id = format!("api-{}", n + 1);
                let mut args = vec![
                    "api".into(),
                    "--store".into(),
                    store.into(),
                    "--id".into(),
                    id.clone(),
                ];
                if let Some(tier) = tier {
                    args.extend(["--tier".into(), tier.into()]);
                }
                match bus {
                    Some(bus) => args.extend(["--bus".into(), bus.into()]),
                    None if self.nodes > 1 => args.extend(["--near-capacity".into(), "0".into()]),
                    None => {}
                }
                if let Some(auth) = &self.auth {
                    args.extend(["--auth-tokens".into(), auth.tokens.display().to_string()]);
                }
                args.extend(self.api_args.iter().cloned());
                self.spec(Role::Api, id, port, args)
            })
            .collect()
    }
}

impl UpOptions {
    /// A child of `role`: `args`, then `--listen` on `port`, then its role's certificate
    /// when the deployment runs TLS.
    fn spec(&self, role: Role, id: String, port: u16, mut args: Vec<String>) -> ChildSpec {
        args.extend(["--listen".into(), format!("127.0.0.1:{port}")]);
        if let Some(certs) = &self.certs {
            let certificate = match role {
                Role::Log => "lognode",
                other => other.as_str(),
            };
            let files = tiercache_tls::certs::role_files(certs, certificate);
            for (flag, path) in [
                ("--tls-ca", Some(files.ca)),
                ("--tls-cert", files.cert),
                ("--tls-key", files.key),
            ] {
                if let Some(path) = path {
                    args.extend([flag.into(), path.display().to_string()]);
                }
            }
        }
        ChildSpec {
            role,
            id,
            port,
            args,
            tls: self.certs.is_some(),
            env: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(nodes: usize) -> UpOptions {
        UpOptions {
            binary: PathBuf::from("tiercache"),
            dir: PathBuf::from("data"),
            db: None,
            nodes,
            admins: 3,
            log_nodes: 3,
            tier: UpTier::None,
            maxmemory: ByteSize(64 << 20),
            maxmemory_policy: "allkeys-lru".into(),
            lease_ms: 3000,
            restart: false,
            child_args: Vec::new(),
            auth: None,
            api_args: Vec::new(),
            certs: None,
            redis_users: false,
        }
    }

    #[test]
    fn several_nodes_without_a_bus_run_without_near_caches() {
        let two = options(2).api_nodes("http://s", None, None, &[1, 2]);
        assert!(
            two.iter()
                .all(|node| node.args.windows(2).any(|w| w == ["--near-capacity", "0"]))
        );
        let one = options(1).api_nodes("http://s", None, None, &[1]);
        assert!(!one[0].args.iter().any(|arg| arg == "--near-capacity"));
        let redis = options(2).api_nodes("http://s", Some("redis://r"), Some("redis://r"), &[1, 2]);
        assert!(
            redis[1]
                .args
                .windows(2)
                .any(|w| w == ["--bus", "redis://r"])
        );
        assert_eq!(redis[1].id, "api-2");
        assert_eq!(redis[1].args.last().unwrap(), "127.0.0.1:2");
        // A bus alone (Redis for the logs only): near caches stay on, no shared tier.
        let bus = options(2).api_nodes("http://s", None, Some("redis://r"), &[1, 2]);
        assert!(
            !bus[0]
                .args
                .iter()
                .any(|a| a == "--tier" || a == "--near-capacity")
        );
        assert!(bus[0].args.windows(2).any(|w| w == ["--bus", "redis://r"]));
    }

    #[test]
    fn log_nodes_get_the_bus_and_a_data_directory_each() {
        let logs = options(1).log_nodes("http://s", "redis://r", &[7, 8, 9]);
        assert_eq!(logs.len(), 3);
        assert_eq!(logs[2].id, "log-3");
        assert_eq!(logs[2].role, Role::Log);
        assert!(logs[2].args.windows(2).any(|w| w == ["--bus", "redis://r"]));
        assert!(
            logs[2]
                .args
                .windows(2)
                .any(|w| w[0] == "--data" && w[1].ends_with("log-3"))
        );
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        assert!(options(0).validate().unwrap_err().contains("--nodes"));
        let mut bad = options(1);
        bad.db = Some("mysql://x".into());
        assert!(bad.validate().unwrap_err().contains("--db"));
        assert!(
            "redis-sentinel"
                .parse::<UpTier>()
                .unwrap_err()
                .contains("unknown tier")
        );
        assert_eq!(options(1).database(), "sqlite://data/tiercache.db");
    }

    #[test]
    fn with_tokens_the_nodes_ask_for_them_and_the_admins_send_theirs() {
        let mut secured = options(2);
        secured.auth = Some(UpAuth {
            tokens: PathBuf::from("/d/secrets/tokens"),
            admin_token: PathBuf::from("/d/secrets/admin.token"),
        });
        for node in secured.api_nodes("http://s", None, None, &[1, 2]) {
            assert!(
                node.args
                    .windows(2)
                    .any(|w| w == ["--auth-tokens", "/d/secrets/tokens"])
            );
        }
        for admin in secured.admins("http://s", &[1, 2, 3]) {
            assert!(
                admin
                    .args
                    .windows(2)
                    .any(|w| w == ["--api-token-file", "/d/secrets/admin.token"])
            );
        }
        let open = options(2);
        assert!(
            !open
                .api_nodes("http://s", None, None, &[1])
                .iter()
                .chain(&open.admins("http://s", &[1]))
                .any(|child| child.args.iter().any(|arg| arg.contains("token")))
        );
    }

    #[test]
    fn the_api_flags_given_to_up_reach_every_api_node_and_only_them() {
        let mut tuned = options(2);
        tuned.api_args = vec!["--rate-limit".into(), "50".into()];
        for node in tuned.api_nodes("http://s", None, None, &[1, 2]) {
            assert!(node.args.windows(2).any(|w| w == ["--rate-limit", "50"]));
        }
        assert!(
            !tuned
                .admins("http://s", &[1])
                .iter()
                .any(|admin| admin.args.iter().any(|arg| arg == "--rate-limit"))
        );
    }
}
