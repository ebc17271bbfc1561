//! The object store (SA) of tiercache: the source of truth every cache tier fills from and
//! writes through.
//!
//! # Layout
//!
//! The store offers three services, one trait each, with the guarantees every
//! implementation keeps written on the trait; one conformance suite (`tests/conformance/`,
//! a file per service) checks them on SQLite, PostgreSQL and through gRPC:
//!
//! * [`ObjectStore`] — versioned objects (`get` answers an [`ObjectRead`]);
//! * [`Registry`] — the binder: where the nodes of each role can be reached;
//! * [`AdminState`] — the admin service's lease and the state fenced by its epoch;
//! * [`Store`] — all three at once, for whoever opens "the store" by URL.
//!
//! Implementations and tools:
//!
//! * [`SqlStore`] — the three services on SQLite (a local file; the embedded default) or
//!   PostgreSQL.
//! * [`grpc`] — the `tiercache.v1` services ([`grpc::serve`]) and [`StoreClient`], the same
//!   traits over the wire. Errors cross the wire as one [`StoreError`] variant each.
//! * [`faults`] — [`GatedStore`](faults::GatedStore), an [`ObjectStore`] wrapper that holds
//!   or fails replies on demand, for deterministic tests.
//! * [`dataset`] — the Kepler-like table generator and the CSV importer behind
//!   `tiercache load`.
//!
//! Limits ([`Limits`]): keys 1..=512 bytes, values up to 1 MiB, batches up to 10 000 items,
//! all configurable; an oversized request is rejected before any SQL runs.

/// The admin service's lease and fenced state: [`AdminState`].
mod admin_state;
/// The store's clock for expiry: [`WallClock`].
mod clock;
pub mod dataset;
/// Every way an operation fails: [`StoreError`].
mod error;
pub mod faults;
pub mod grpc;
/// Size limits checked before any SQL: [`Limits`].
mod limits;
/// Versioned objects: [`ObjectStore`] and its values.
mod object_store;
/// The binder: [`Registry`].
mod registry;
/// The three services on SQLite or PostgreSQL: [`SqlStore`].
mod sql;
/// The three services together: [`Store`].
mod store;

pub use admin_state::{AdminState, Lease, StateEntry};
pub use clock::WallClock;
pub use error::{StoreError, StoreResult};
pub use grpc::client::StoreClient;
pub use limits::Limits;
pub use object_store::{Object, ObjectRead, ObjectStore, PendingNotice, Precondition, ScanPage};
pub use registry::{Registration, Registry};
pub use sql::{DatabaseUrl, SqlOptions, SqlStore};
pub use store::Store;
