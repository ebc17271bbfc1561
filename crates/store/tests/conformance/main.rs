//! One conformance suite for the store's three services: every case runs on SQLite,
//! PostgreSQL (a real server started by the test kit) and the gRPC client in front of each.
//! Every case gets a fresh, empty store and a manual clock for registry and lease expiry.
//! The cases live in one file per service: `conformance/objects.rs`,
//! `conformance/registry.rs`, `conformance/admin_state.rs`, `conformance/outbox.rs`.
//!
//! If PostgreSQL cannot be started the PostgreSQL tests fail with the reason; nothing is
//! skipped.

mod admin_state;
mod objects;
mod outbox;
mod registry;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tiercache_store::grpc::serve_on_loopback;
use tiercache_store::{Limits, SqlOptions, SqlStore, Store, StoreClient, WallClock};
use tiercache_testkit::Postgres;

pub(crate) const START_MS: i64 = 1_700_000_000_000;

pub(crate) type Clock = Arc<AtomicI64>;

fn options() -> (SqlOptions, Clock) {
    let (clock, handle) = WallClock::manual(START_MS);
    let options = SqlOptions {
        clock,
        ..SqlOptions::default()
    };
    (options, handle)
}

pub(crate) fn advance(clock: &Clock, ms: i64) {
    clock.fetch_add(ms, Ordering::SeqCst);
}

/// Serves `store` on a free loopback port in this runtime and returns a client of it.
async fn over_grpc(store: SqlStore) -> Arc<dyn Store> {
    let address = serve_on_loopback(Arc::new(store)).await.unwrap();
    Arc::new(
        StoreClient::connect(&address.to_string(), Limits::default())
            .await
            .unwrap(),
    )
}

/// Runs every case, each on a store made fresh by `fresh(case_name)`.
macro_rules! run_cases {
    ($backend:expr, $fresh:expr) => {
        run_cases!(@ $backend, $fresh;
            objects::versions_start_at_one_and_increase_per_key,
            objects::deletes_leave_tombstones_and_writes_continue_above_them,
            objects::conditional_writes_compare_and_set_on_the_version,
            objects::batch_put_is_all_or_nothing,
            objects::batch_get_answers_every_key_in_order,
            objects::scans_page_through_a_prefix_in_byte_order,
            objects::concurrent_writers_lose_no_update_and_leave_no_gap,
            objects::unicode_binary_and_sql_special_keys_are_stored_verbatim,
            objects::limits_reject_oversized_input_and_write_nothing,
            objects::answers_too_large_for_one_message_are_paged_or_refused,
            registry::registry_entries_expire_unless_renewed,
            registry::unicode_names_are_stored_verbatim,
            admin_state::leases_fence_state_writes_by_epoch,
            outbox::the_outbox_holds_every_committed_write_until_confirmed,
            outbox::claims_take_the_oldest_first_within_the_limit
        )
    };
    (@ $backend:expr, $fresh:expr; $($service:ident::$case:ident),*) => {{
        $(
            let (store, clock): (Arc<dyn Store>, Clock) = $fresh(stringify!($case)).await;
            eprintln!("{}: {}::{}", $backend, stringify!($service), stringify!($case));
            // Each case sees only its service's trait (`&dyn Store` upcasts to it).
            $service::$case(&*store, &clock).await;
        )*
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = async |case: &str| {
        let (options, clock) = options();
        let url = format!("sqlite://{}/{case}.db", dir.path().display());
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url, options).await.unwrap());
        (store, clock)
    };
    run_cases!("sqlite", fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    let server = Postgres::start().expect("the PostgreSQL conformance run needs a server");
    let fresh = async |case: &str| {
        let url = server.create_database(case).unwrap();
        let (options, clock) = options();
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url, options).await.unwrap());
        (store, clock)
    };
    run_cases!("postgres", fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = async |case: &str| {
        let (options, clock) = options();
        let url = format!("sqlite://{}/{case}.db", dir.path().display());
        (
            over_grpc(SqlStore::open(&url, options).await.unwrap()).await,
            clock,
        )
    };
    run_cases!("grpc+sqlite", fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_postgres_conforms() {
    let server = Postgres::start().expect("the PostgreSQL conformance run needs a server");
    let fresh = async |case: &str| {
        let url = server.create_database(case).unwrap();
        let (options, clock) = options();
        (
            over_grpc(SqlStore::open(&url, options).await.unwrap()).await,
            clock,
        )
    };
    run_cases!("grpc+postgres", fresh);
}
