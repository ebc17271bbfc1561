//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, `postgres` on a free
//! loopback port, trust authentication for the `postgres` user; every other role logs in
//! with its password (SCRAM), see [`Postgres::create_role`].

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{Uid, User};
use std::os::unix::fs::chown;
use tempfile::TempDir;
use tiercache_launch::{Error, Launch, Process, Ready, find_binary, free_port, port_open};

/// A running PostgreSQL server, stopped and deleted on drop.
pub struct Postgres {
    /// Declared first so it is dropped (stopped) before its directory is deleted.
    process: Option<Process>,
    dir: TempDir,
    bin: PathBuf,
    user: Option<User>,
    port: u16,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("port", &self.port)
            .finish()
    }
}

/// The directory with `initdb` and `postgres`: `$TIERCACHE_PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin` (Debian), or `PATH`.
fn server_binaries() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("TIERCACHE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("postgres").is_file())
        .collect();
    debian.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    let found = find_binary("initdb", &debian.into_iter().rev().collect::<Vec<_>>());
    found
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .ok_or_else(|| Error::Missing {
            binary: "initdb (PostgreSQL server)".into(),
            package: "postgresql".into(),
        })
}

impl Postgres {
    /// Initialises a cluster and starts the server; ready to accept connections on return.
    pub fn start() -> Result<Postgres, Error> {
        let bin = server_binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("tiercache-pg-")
            .tempdir()
            .map_err(Error::io("creating the PostgreSQL directory"))?;
        // PostgreSQL refuses to run as root: hand the directory to the `postgres` user.
        let user = if Uid::effective().is_root() {
            let user =
                User::from_name("postgres")
                    .ok()
                    .flatten()
                    .ok_or_else(|| Error::Missing {
                        binary: "the `postgres` system user".into(),
                        package: "postgresql".into(),
                    })?;
            chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(Error::io("chown of the PostgreSQL directory"))?;
            Some(user)
        } else {
            None
        };
        let mut server = Postgres {
            process: None,
            dir,
            bin,
            user,
            port: 0,
        };
        server.initdb()?;
        // The port is picked free but may be taken before postgres binds it: retry.
        let mut last_error = None;
        for _ in 0..3 {
            server.port = free_port();
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("three attempts were made"))
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some(user) = &self.user {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        command.current_dir(self.dir.path());
        command
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn initdb(&self) -> Result<(), Error> {
        let output = self
            .command("initdb")
            .args([
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("--pgdata")
            .arg(self.data_dir())
            .output()
            .map_err(Error::io("running initdb"))?;
        if !output.status.success() {
            return Err(Error::NotReady {
                what: "initdb".into(),
                detail: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        // `postgres` (the tests' set-up) is trusted; any other role needs its password.
        let hba = "local all all trust\n\
                   host all postgres 127.0.0.1/32 trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(self.data_dir().join("pg_hba.conf"), hba)
            .map_err(Error::io("writing pg_hba.conf"))?;
        Ok(())
    }

    fn launch(&mut self) -> Result<(), Error> {
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            // Test clusters trade crash safety of the *database server* for speed; the
            // store's own crash tests kill the store process, not PostgreSQL.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200", "-c", "shared_buffers=64MB"]);
        let port = self.port;
        let process = Launch::new("postgres", command)
            .ready(Ready::probe(move |log| {
                port_open(port) && log.tail(20).contains("ready to accept connections")
            }))
            .timeout(Duration::from_secs(30))
            // Fast shutdown: roll back open transactions, then stop.
            .stop_signal(Signal::SIGINT)
            .grace(Duration::from_secs(10))
            .log(self.log_path())
            .start()?;
        self.process = Some(process);
        Ok(())
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the default `postgres` database.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// A URL for database `name` (see [`create_database`](Self::create_database)).
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        self.psql(
            &format!("CREATE DATABASE \"{name}\""),
            &format!("database {name}"),
        )?;
        Ok(self.database_url(name))
    }

    /// Creates a role that logs in with `password` only, and a database it owns; returns
    /// the database's URL for that role, without the password.
    pub fn create_role(&self, role: &str, password: &str, database: &str) -> Result<String, Error> {
        self.psql(
            &format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"),
            &format!("role {role}"),
        )?;
        self.psql(
            &format!("CREATE DATABASE \"{database}\" OWNER \"{role}\""),
            &format!("database {database}"),
        )?;
        Ok(format!(
            "postgres://{role}@127.0.0.1:{}/{database}",
            self.port
        ))
    }

    /// Runs one SQL statement as `postgres`.
    fn psql(&self, statement: &str, what: &str) -> Result<(), Error> {
        let output = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(statement)
            .output()
            .map_err(Error::io("running psql"))?;
        if !output.status.success() {
            return Err(Error::NotReady {
                what: what.to_owned(),
                detail: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(())
    }

    /// Stops the server (fast shutdown) and leaves it stopped; [`restart`](Self::restart)
    /// brings it back on the same port with the same data.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.stop();
        }
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop();
        self.launch()
    }
}
