//! One conformance suite for the admin: every case runs on the in-process [`Admin`] and on
//! [`AdminClient`] over HTTP, each over SQLite, PostgreSQL (a real server started by the
//! test kit) and the store's gRPC client in front of SQLite. Every case gets a fresh, empty
//! store and three admin instances ticked by hand, with a short lease on the store's real
//! clock.
//!
//! If PostgreSQL cannot be started the PostgreSQL tests fail with the reason; nothing is
//! skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tiercache_admin::{
    Admin, AdminClient, AdminError, AdminOptions, AdminService, LOG_ROLE, Role, check_app, load,
};
use tiercache_store::grpc::serve_on_loopback;
use tiercache_store::{Limits, SqlOptions, SqlStore, Store, StoreClient};
use tiercache_testkit::Postgres;

/// The admins' lease in these tests: short, so a takeover takes a fraction of a second.
const LEASE: Duration = Duration::from_millis(300);

/// Log node entries that stay live through a case.
const LONG: Duration = Duration::from_secs(60);

/// Three admin instances over one store, and how the case reaches each.
struct Cluster {
    store: Arc<dyn Store>,
    admins: Vec<Arc<Admin>>,
    services: Vec<Arc<dyn AdminService>>,
}

impl Cluster {
    async fn new(store: Arc<dyn Store>, over_http: bool) -> Cluster {
        let mut admins = Vec::new();
        let mut services: Vec<Arc<dyn AdminService>> = Vec::new();
        for n in 0..3 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let mut options = AdminOptions::new(format!("admin-{n}"), url.clone());
            options.lease = LEASE;
            let admin = Admin::new(store.clone(), options);
            let router = tiercache_admin::router(admin.clone());
            tokio::spawn(async move { axum::serve(listener, router).await });
            store
                .register("admin", &format!("admin-{n}"), &url, LONG)
                .await
                .unwrap();
            services.push(if over_http {
                Arc::new(AdminClient::new(url))
            } else {
                admin.clone()
            });
            admins.push(admin);
        }
        Cluster {
            store,
            admins,
            services,
        }
    }

    async fn register_log_nodes(&self, ids: &[&str], ttl: Duration) {
        for id in ids {
            self.store
                .register(LOG_ROLE, id, &format!("http://{id}.log"), ttl)
                .await
                .unwrap();
        }
    }

    async fn tick_all(&self) {
        for admin in &self.admins {
            admin.tick().await;
        }
    }
}

fn node_ids(assignment: &tiercache_admin::Assignment) -> Vec<&str> {
    assignment
        .nodes
        .iter()
        .map(|node| node.id.as_str())
        .collect()
}

async fn wait_past_lease() {
    tokio::time::sleep(LEASE + Duration::from_millis(50)).await;
}

/// The first instance to tick takes the lease; the others stay standbys, refuse activations
/// naming the active, and answer from their warm copy.
async fn one_active_places_three_least_loaded_nodes(cluster: &Cluster) {
    cluster
        .register_log_nodes(&["a", "b", "c", "d", "e"], LONG)
        .await;
    cluster.tick_all().await;
    let roles: Vec<Role> = futures_roles(cluster).await;
    assert_eq!(roles, [Role::Active, Role::Standby, Role::Standby]);

    let shop = cluster.services[0].activate_log("shop").await.unwrap();
    assert_eq!(node_ids(&shop), ["a", "b", "c"]);
    assert_eq!(
        cluster.services[0].activate_log("shop").await.unwrap(),
        shop,
        "stable"
    );
    let blog = cluster.services[0].activate_log("blog").await.unwrap();
    assert_eq!(
        node_ids(&blog),
        ["d", "e", "a"],
        "least loaded first, ties by id"
    );

    match cluster.services[1].activate_log("wiki").await {
        Err(AdminError::NotActive { .. }) => {}
        other => panic!("a standby activated: {other:?}"),
    }
    // The state is in the store, fenced by the active's epoch.
    let stored = load(&*cluster.store).await.unwrap();
    assert_eq!(stored.placement["shop"], shop.nodes);
    assert_eq!(stored.placement["blog"], blog.nodes);
    assert_eq!(stored.revision, 2);

    let status = cluster.services[0].status().await.unwrap();
    assert_eq!(status.role, Role::Active);
    assert!(status.epoch >= 1);
    assert!(status.lease_expires_in_ms <= LEASE.as_millis() as u64);
    assert_eq!(
        status.apps["shop"],
        ["http://a.log", "http://b.log", "http://c.log"]
    );
    assert_eq!(status.writes.accepted, 2);
    assert_eq!(status.nodes.len(), 5);
    assert_eq!(status.nodes[0].apps, 2, "{:?}", status.nodes);
}

async fn futures_roles(cluster: &Cluster) -> Vec<Role> {
    let mut roles = Vec::new();
    for service in &cluster.services {
        roles.push(service.status().await.unwrap().role);
    }
    roles
}

/// A log node whose binder entry lapsed is replaced at the next tick; live nodes stay.
async fn a_lapsed_log_node_is_replaced(cluster: &Cluster) {
    cluster.register_log_nodes(&["a", "b"], LONG).await;
    cluster
        .register_log_nodes(&["c"], Duration::from_millis(100))
        .await;
    cluster.tick_all().await;
    let app = cluster.services[0].activate_log("app").await.unwrap();
    assert_eq!(node_ids(&app), ["a", "b", "c"]);
    cluster.register_log_nodes(&["d"], LONG).await;
    tokio::time::sleep(Duration::from_millis(150)).await; // c lapses
    cluster.admins[0].tick().await;
    let app = cluster.services[0]
        .assignment("app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(node_ids(&app), ["a", "b", "d"]);
    assert_eq!(
        load(&*cluster.store).await.unwrap().placement["app"],
        app.nodes
    );
}

/// The active stops (as if killed): a standby takes over after the lease with a higher epoch
/// and every assignment; the former active, resumed, has its writes refused by the fence and
/// steps down.
async fn a_standby_takes_over_and_the_former_active_is_fenced(cluster: &Cluster) {
    cluster.register_log_nodes(&["a", "b", "c"], LONG).await;
    cluster
        .register_log_nodes(&["d"], Duration::from_millis(200))
        .await;
    cluster.tick_all().await;
    let first = cluster.services[0].status().await.unwrap();
    for app in ["one", "two"] {
        cluster.services[0].activate_log(app).await.unwrap();
    }
    let before = load(&*cluster.store).await.unwrap();
    assert!(
        before
            .placement
            .values()
            .flatten()
            .any(|node| node.id == "d")
    );

    // admins[0] stops ticking; d's entry lapses; the lease runs out.
    wait_past_lease().await;
    cluster.admins[1].tick().await;
    let second = cluster.services[1].status().await.unwrap();
    assert_eq!(second.role, Role::Active);
    assert!(second.epoch > first.epoch, "{second:?} after {first:?}");
    assert_eq!(
        cluster.services[0].status().await.unwrap().role,
        Role::Standby,
        "lapsed by its own clock"
    );
    for app in ["one", "two"] {
        assert!(
            cluster.services[1].assignment(app).await.unwrap().is_some(),
            "{app} lost"
        );
    }
    cluster.admins[1].tick().await; // repairs what d served
    let repaired = load(&*cluster.store).await.unwrap();
    assert!(
        repaired
            .placement
            .values()
            .flatten()
            .all(|node| node.id != "d"),
        "{repaired:?}"
    );

    // The former active resumes with its old view: it tries to repair, the fence refuses.
    let accepted_before = cluster.services[0].status().await.unwrap().writes.accepted;
    cluster.admins[0].tick().await;
    let former = cluster.services[0].status().await.unwrap();
    assert_eq!(former.role, Role::Standby);
    assert_eq!(
        former.writes.accepted, accepted_before,
        "a fenced instance wrote"
    );
    assert!(former.writes.fenced >= 1, "{former:?}");
    assert_eq!(
        load(&*cluster.store).await.unwrap(),
        repaired,
        "the state moved"
    );
    match cluster.services[0].activate_log("three").await {
        Err(AdminError::NotActive { .. }) => {}
        other => panic!("the former active answered {other:?}"),
    }
    assert!(cluster.services[1].activate_log("three").await.is_ok());
}

/// A clean stop hands the lease over at once: the next standby tick takes it.
async fn resigning_hands_the_lease_over_at_once(cluster: &Cluster) {
    cluster.register_log_nodes(&["a"], LONG).await;
    cluster.tick_all().await;
    cluster.services[0].activate_log("app").await.unwrap();
    let started = Instant::now();
    cluster.admins[0].resign().await;
    cluster.admins[2].tick().await;
    assert!(started.elapsed() < LEASE, "took {:?}", started.elapsed());
    let status = cluster.services[2].status().await.unwrap();
    assert_eq!(status.role, Role::Active);
    assert_eq!(status.apps["app"], ["http://a.log"]);
    // One live node: the application runs on one until more register, then is filled.
    cluster.register_log_nodes(&["b", "c", "d"], LONG).await;
    cluster.admins[2].tick().await;
    let app = cluster.services[2]
        .assignment("app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(node_ids(&app), ["a", "b", "c"]);
}

/// Bad names and an empty binder get clear errors and change nothing.
async fn bad_requests_are_refused_and_change_nothing(cluster: &Cluster) {
    cluster.tick_all().await;
    match cluster.services[0].activate_log("app").await {
        Err(AdminError::NoLogNodes) => {}
        other => panic!("{other:?}"),
    }
    for bad in ["", "a b", "ünï", &"x".repeat(200)] {
        assert!(check_app(bad).is_err());
        match cluster.services[0].activate_log(bad).await {
            Err(AdminError::InvalidApp(_)) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert_eq!(cluster.services[0].assignment("app").await.unwrap(), None);
    assert!(load(&*cluster.store).await.unwrap().placement.is_empty());
}

macro_rules! run_cases {
    ($backend:expr, $fresh:expr) => {
        run_cases!(@ $backend, $fresh;
            one_active_places_three_least_loaded_nodes,
            a_lapsed_log_node_is_replaced,
            a_standby_takes_over_and_the_former_active_is_fenced,
            resigning_hands_the_lease_over_at_once,
            bad_requests_are_refused_and_change_nothing
        )
    };
    (@ $backend:expr, $fresh:expr; $($case:ident),*) => {{
        $(
            for over_http in [false, true] {
                let store: Arc<dyn Store> = $fresh(concat!(stringify!($case), "_", $backend), over_http).await;
                eprintln!("{} (http: {over_http}): {}", $backend, stringify!($case));
                $case(&Cluster::new(store, over_http).await).await;
            }
        )*
    }};
}

async fn over_grpc(store: SqlStore) -> Arc<dyn Store> {
    let address = serve_on_loopback(Arc::new(store)).await.unwrap();
    Arc::new(
        StoreClient::connect(&address.to_string(), Limits::default())
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = async |case: &str, http: bool| {
        let url = format!("sqlite://{}/{case}-{http}.db", dir.path().display());
        let store: Arc<dyn Store> =
            Arc::new(SqlStore::open(&url, SqlOptions::default()).await.unwrap());
        store
    };
    run_cases!("sqlite", fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = async |case: &str, http: bool| {
        let url = format!("sqlite://{}/{case}-{http}.db", dir.path().display());
        over_grpc(SqlStore::open(&url, SqlOptions::default()).await.unwrap()).await
    };
    run_cases!("grpc_sqlite", fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    let server = Postgres::start().expect("the PostgreSQL conformance run needs a server");
    let databases = std::sync::atomic::AtomicUsize::new(0);
    let fresh = async |_case: &str, _http: bool| {
        let n = databases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Case names are longer than PostgreSQL's 63-byte identifiers: number them.
        let url = server.create_database(&format!("admin_case_{n}")).unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqlStore::open(&url, SqlOptions::default()).await.unwrap());
        store
    };
    run_cases!("postgres", fresh);
}
