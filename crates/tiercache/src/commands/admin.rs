//! `tiercache admin`: one admin instance (NA); run three for warm standby.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_admin::{ADMIN_ROLE, Admin, AdminOptions};
use tiercache_core::Secret;
use tiercache_deploy::Membership;
use tiercache_store::Registry;

use crate::config::{AdminConfig, ConfigFile, print_section};

/// Serves one admin instance. Run three over the same store: one holds the admin lease and
/// places three live log nodes per application, the others keep a warm copy and take over
/// when the lease lapses.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache admin --store http://127.0.0.1:7070 --id admin-1 --listen 127.0.0.1:7081
  tiercache admin --store http://127.0.0.1:7070 --id admin-2 --listen 127.0.0.1:7082 --lease-ms 3000

What it guarantees: only the holder of the lease at the store's current epoch changes the
state, and the store checks that epoch inside every write's transaction, so an instance that
was paused or cut off past its lease can never write again (it steps down when refused). A
standby takes over within one lease and one tick (a third of the lease) of the active's last
renewal, at a higher epoch, after reloading the state from the store; a clean stop (Ctrl-C,
SIGTERM) hands the lease over at once. The active sends the other admins (found in the
binder) a heartbeat with its epoch and state version every tick; they reload their copy when
it moved. A log node whose binder entry lapsed is replaced at the next tick.
Routes: GET /v1/admin (role, epoch, lease_expires_in_ms, apps, nodes), POST
/v1/admin/apps/APP (place APP on first request; the active only), GET /v1/admin/apps/APP,
GET /healthz, GET /metrics. The instance registers in the binder as role `admin`, id --id,
address http://LISTEN. Settings: defaults < --config FILE ([admin]) < TIERCACHE_* variables
< flags. The first line on stdout is `listening on ADDRESS`.")]
pub struct AdminArgs {
    /// TOML configuration file; its [admin] section sets any of the flags below.
    #[arg(long, value_name = "FILE", env = "TIERCACHE_CONFIG")]
    config: Option<PathBuf>,

    /// Print the resulting configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,

    /// The store holding the lease, the state and the binder: http://HOST:PORT of a
    /// `tiercache store` [default: http://127.0.0.1:7070].
    #[arg(long, value_name = "URL", env = "TIERCACHE_STORE")]
    store: Option<String>,

    /// The instance's id, unique among the admins: the lease holder's name and its id in the
    /// binder [default: the listen address].
    #[arg(long, value_name = "ID", env = "TIERCACHE_ID")]
    id: Option<String>,

    /// Address to serve HTTP on; port 0 picks a free port [default: 127.0.0.1:7080].
    #[arg(long, value_name = "ADDR", env = "TIERCACHE_LISTEN")]
    listen: Option<SocketAddr>,

    /// The admin lease's time-to-live in ms; the active renews it every third [default: 3000].
    /// Every admin of a deployment should use the same.
    #[arg(long, value_name = "MS", env = "TIERCACHE_LEASE_MS")]
    lease_ms: Option<u64>,

    /// How often the instance renews its binder entry, in ms [default: 2000].
    #[arg(long, value_name = "MS", env = "TIERCACHE_HEARTBEAT_MS")]
    heartbeat_ms: Option<u64>,

    /// A file holding the bearer token (with the admin scope) the dashboard sends to API
    /// nodes started with --auth-tokens, to read their /v1/stats: its first line that is
    /// not blank or a `#` comment [default: none, no token sent].
    #[arg(long, value_name = "FILE", env = "TIERCACHE_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,
}

impl AdminArgs {
    fn resolve(&self) -> anyhow::Result<AdminConfig> {
        let mut config = ConfigFile::load(self.config.as_deref())?.admin;
        if let Some(store) = &self.store {
            config.store = store.clone();
        }
        if let Some(id) = &self.id {
            config.id = Some(id.clone());
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(ms) = self.lease_ms {
            config.lease_ms = ms;
        }
        if let Some(ms) = self.heartbeat_ms {
            config.heartbeat_ms = ms;
        }
        if let Some(path) = &self.api_token_file {
            config.api_token_file = Some(path.clone());
        }
        anyhow::ensure!(
            (30..=600_000).contains(&config.lease_ms),
            "lease_ms must be from 30 to 600000, got {}",
            config.lease_ms
        );
        anyhow::ensure!(
            (1..=3_600_000).contains(&config.heartbeat_ms),
            "heartbeat_ms must be from 1 to 3600000, got {}",
            config.heartbeat_ms
        );
        Ok(config)
    }
}

/// Runs the instance until a shutdown signal.
pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    if args.print_config {
        return print_section("admin", &config);
    }
    let api_token = config
        .api_token_file
        .as_deref()
        .map(Secret::from_file)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    super::runtime()?.block_on(async move {
        // Before anything can print `listening on`: see `shutdown_signal`.
        let shutdown = super::shutdown_signal();
        let store = tiercache_deploy::open_store(&config.store).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let address = listener.local_addr()?;
        let url = format!("{}://{address}", crate::tls::scheme());
        let id = config.id.clone().unwrap_or_else(|| address.to_string());
        let mut options = AdminOptions::new(id.clone(), url.clone());
        options.lease = Duration::from_millis(config.lease_ms);
        options.api_token = api_token;
        let admin = Admin::new(store.clone(), options);
        let registry: Arc<dyn Registry> = store;
        let heartbeat = Duration::from_millis(config.heartbeat_ms);
        let membership = Membership::join(registry, ADMIN_ROLE, &id, &url, heartbeat).await?;

        let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::tls::serve_http(
            listener,
            tiercache_admin::router(admin.clone()),
            async {
                let _ = serving_stopped.await;
            },
        ));
        println!("listening on {address}");
        tracing::info!(
            "tiercache admin: {id} on {url}, store {}, lease {} ms, registered as {ADMIN_ROLE}/{id} (Ctrl-C to stop)",
            tiercache_core::redact_url(&config.store),
            config.lease_ms
        );
        // Ticks until the signal, then hands the lease over.
        admin.clone().run(shutdown).await;
        if let Err(error) = membership.leave().await {
            tracing::error!("tiercache admin: {error:#}");
        }
        let _ = stop_serving.send(());
        server.await.context("the HTTP server panicked")?.context("serving HTTP")?;
        tracing::info!("tiercache admin: stopped");
        Ok(())
    })
}
