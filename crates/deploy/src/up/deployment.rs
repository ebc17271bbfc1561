//! A running `up` deployment: started in order, watched, stopped in reverse.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tiercache_launch::free_port;

use super::child::Child;
use super::plan::{Role, UpOptions};
use super::redis::{UpRedis, with_user};
use super::secrets::{RedisUser, RedisUsers};
use crate::{Error, LocalRedis, Result};

/// How often `watch` looks at the children.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// One process of the deployment, as the table and the JSON show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    /// `store`, `redis`, `admin` or `api`.
    pub role: &'static str,
    /// Its id (`api-1`, `admin-2`, `redis-primary`, …).
    pub id: String,
    /// Where it answers (`http://…` for tiercache roles, `redis://…` for Redis).
    pub url: String,
    /// Its process id (0 while it is down).
    pub pid: u32,
}

/// The started processes. Dropping it stops them too, but only [`Deployment::stop`] does it in
/// reverse order and reports.
pub struct Deployment {
    options: UpOptions,
    /// Started first (before the tiercache children that use it), stopped last but the store.
    redis: Option<UpRedis>,
    /// In start order: the store, the admins, the API nodes.
    children: Vec<Child>,
}

impl Deployment {
    /// Starts the store, the Redis topology, the admins and the API nodes, in that order, each
    /// once the previous answers its health check; `progress` hears one line per step. On a
    /// failure, what was started is stopped and the error says what failed.
    pub fn start(options: UpOptions, mut progress: impl FnMut(&str)) -> Result<Deployment> {
        options.validate().map_err(Error::Settings)?;
        let logs = options.dir.join("logs");
        std::fs::create_dir_all(&logs)
            .map_err(|error| Error::Settings(format!("creating {}: {error}", logs.display())))?;
        let mut deployment = Deployment {
            redis: None,
            children: Vec::new(),
            options,
        };
        // On an error, dropping `deployment` stops what was started (children by the
        // launcher, Redis by its servers); `stop` does it in order.
        match deployment.start_all(&logs, &mut progress) {
            Ok(()) => Ok(deployment),
            Err(error) => {
                deployment.stop(|_| {});
                Err(error)
            }
        }
    }

    fn start_all(&mut self, logs: &std::path::Path, progress: &mut impl FnMut(&str)) -> Result<()> {
        let binary = self.options.binary.clone();
        let store = self.options.store(free_port());
        let store_url = store.url();
        self.start_child(&binary, logs, store, progress)?;
        if let Some(redis) = self.start_redis(progress)? {
            self.redis = Some(redis);
        }
        let admin_ports: Vec<u16> = (0..self.options.admins).map(|_| free_port()).collect();
        for admin in self.options.admins(&store_url, &admin_ports) {
            self.start_child(&binary, logs, admin, progress)?;
        }
        let (tier, bus) = match self.redis.as_ref().map(UpRedis::urls) {
            Some((tier, bus)) => (tier, Some(bus)),
            None => (None, None),
        };
        let users = match (&mut self.redis, self.options.redis_users) {
            (Some(redis), true) => {
                let (users, default_password) =
                    RedisUsers::generate(&self.options.dir).map_err(Error::Settings)?;
                redis.secure(&users, &default_password)?;
                progress(
                    "Redis access control on: ACL users tc-api and tc-log, passwords under DIR/secrets",
                );
                Some(users)
            }
            _ => None,
        };
        // Each role reaches Redis as its own user, its password read from a file.
        let as_user = |url: &str, user: Option<&RedisUser>| match user {
            Some(user) => with_user(url, &user.name),
            None => url.to_owned(),
        };
        let password_env = |user: Option<&RedisUser>| -> Vec<(String, String)> {
            user.map(|user| {
                vec![(
                    tiercache_core::REDIS_PASSWORD_FILE_VAR.to_owned(),
                    user.password_file.display().to_string(),
                )]
            })
            .unwrap_or_default()
        };
        let (api_user, log_user) = (
            users.as_ref().map(|users| &users.api),
            users.as_ref().map(|users| &users.log),
        );
        match &bus {
            Some(bus) => {
                let ports: Vec<u16> = (0..self.options.log_nodes).map(|_| free_port()).collect();
                for mut node in self
                    .options
                    .log_nodes(&store_url, &as_user(bus, log_user), &ports)
                {
                    node.env = password_env(log_user);
                    self.start_child(&binary, logs, node, progress)?;
                }
            }
            None if self.options.log_nodes > 0 => progress(
                "no log nodes: the logs need a bus between the processes, and redis-server is not installed (install it, or pass --log-nodes 0 to silence this)",
            ),
            None => {}
        }
        if bus.is_none() && self.options.nodes > 1 {
            progress(
                "no bus between the API nodes (no Redis): their near caches are off so none serves a copy another node's write replaced; --tier redis gives them a shared tier and a bus",
            );
        }
        let api_ports: Vec<u16> = (0..self.options.nodes).map(|_| free_port()).collect();
        let tier = tier.map(|tier| as_user(&tier, api_user));
        let bus = bus.map(|bus| as_user(&bus, api_user));
        let api_nodes =
            self.options
                .api_nodes(&store_url, tier.as_deref(), bus.as_deref(), &api_ports);
        for mut node in api_nodes {
            node.env = password_env(api_user);
            self.start_child(&binary, logs, node, progress)?;
        }
        Ok(())
    }

    fn start_child(
        &mut self,
        binary: &std::path::Path,
        logs: &std::path::Path,
        mut spec: super::plan::ChildSpec,
        progress: &mut impl FnMut(&str),
    ) -> Result<()> {
        let shared = self.options.child_args.iter().cloned();
        spec.args.splice(0..0, shared);
        let started = Instant::now();
        let name = spec.name();
        progress(&format!("starting {name} on {}…", spec.url()));
        let child = Child::start(binary, logs, spec)?;
        progress(&format!(
            "{name} healthy in {} ms",
            started.elapsed().as_millis()
        ));
        self.children.push(child);
        Ok(())
    }

    fn start_redis(&self, progress: &mut impl FnMut(&str)) -> Result<Option<UpRedis>> {
        let policy = crate::setting::policy(&self.options.maxmemory_policy)
            .map_err(|error| Error::Settings(error.to_string()))?;
        let args = LocalRedis::server_args(&policy, self.options.maxmemory.bytes())?;
        if self.options.tier != super::plan::UpTier::None {
            progress(&format!("starting Redis ({})…", args.join(" ")));
        }
        let started = Instant::now();
        let mut redis = UpRedis::launch(self.options.tier, &args)?;
        if redis.is_none()
            && self.options.log_nodes > 0
            && tiercache_launch::find_binary("redis-server", &[]).is_some()
        {
            progress("starting Redis as the bus of the logs (no shared tier)…");
            redis = Some(UpRedis::bus_only(&args)?);
        }
        if redis.is_some() {
            progress(&format!(
                "Redis ready in {} ms",
                started.elapsed().as_millis()
            ));
        }
        Ok(redis)
    }

    /// Every process, in start order (Redis after the store).
    pub fn processes(&mut self) -> Vec<ProcessInfo> {
        let mut all = Vec::new();
        let info = |child: &Child| ProcessInfo {
            role: child.spec.role.as_str(),
            id: child.spec.id.clone(),
            url: child.spec.url(),
            pid: child.pid().unwrap_or(0),
        };
        let mut children = self.children.iter();
        all.extend(children.next().map(info));
        if let Some(redis) = &mut self.redis {
            for (id, server) in redis.servers_mut() {
                all.push(ProcessInfo {
                    role: Role::Redis.as_str(),
                    id,
                    url: server.url(),
                    pid: server.pid().unwrap_or(0),
                });
            }
        }
        all.extend(children.map(info));
        all
    }

    /// Watches the children until `stop` is set: one that exits is reported on stderr with
    /// its status and last log lines, and restarted on the same port with backoff when
    /// restarts are on (a Redis server comes back empty).
    pub fn watch(&mut self, stop: &AtomicBool) {
        let binary: PathBuf = self.options.binary.clone();
        while !stop.load(Ordering::Relaxed) {
            for child in &mut self.children {
                let name = child.spec.name();
                if let Some((status, tail)) = child.exited() {
                    tracing::warn!("up: {name} exited ({status}); its last lines:\n{tail}");
                    if self.options.restart {
                        let wait = child.schedule_restart();
                        tracing::info!("up: restarting {name} in {} ms", wait.as_millis());
                    } else {
                        tracing::warn!(
                            "up: {name} stays down (--restart restarts children); the others keep running"
                        );
                    }
                }
                match child.restart_if_due(&binary) {
                    Some(Ok(pid)) => {
                        tracing::info!("up: {name} restarted, pid {pid}, on {}", child.spec.url())
                    }
                    Some(Err(error)) => {
                        tracing::warn!("up: restarting {name} failed, retrying: {error}")
                    }
                    None => {}
                }
            }
            if let Some(redis) = &mut self.redis {
                for (id, server) in redis.servers_mut() {
                    if server.pid().is_some() && server.has_exited() {
                        tracing::warn!(
                            "up: redis {id} exited; its last lines:\n{}",
                            server.log_tail(20)
                        );
                        server.kill(); // forget it, so it is reported once
                        if self.options.restart {
                            match server.restart() {
                                Ok(()) => tracing::info!(
                                    "up: redis {id} restarted (empty) on {}",
                                    server.url()
                                ),
                                Err(error) => {
                                    tracing::warn!("up: restarting redis {id} failed: {error}")
                                }
                            }
                        }
                    }
                }
            }
            std::thread::sleep(WATCH_EVERY);
        }
    }

    /// Stops everything in reverse start order (API nodes, admins, Redis, the store), each
    /// with SIGTERM and SIGKILL after a grace period; `report` hears one line per process.
    pub fn stop(mut self, mut report: impl FnMut(&str)) {
        let store = if self.children.is_empty() {
            None
        } else {
            Some(self.children.remove(0))
        };
        for child in self.children.iter_mut().rev() {
            stop_child(child, &mut report);
        }
        if let Some(redis) = self.redis.take() {
            drop(redis);
            report("redis stopped");
        }
        if let Some(mut store) = store {
            stop_child(&mut store, &mut report);
        }
    }
}

fn stop_child(child: &mut Child, report: &mut impl FnMut(&str)) {
    let name = child.spec.name();
    match child.stop() {
        Some(Ok(status)) if status.success() => report(&format!("{name} stopped")),
        Some(Ok(status)) => report(&format!("{name} stopped ({status})")),
        Some(Err(error)) => report(&format!("{name}: {error}")),
        None => {}
    }
}
