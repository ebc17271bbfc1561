//! The object store (SA) of tiercache: the source of truth every cache tier fills from and
//! writes through.
//!
//! * [`Store`] — versioned objects, the registry (binder) and the admin state with an epoch
//!   fence, as one async trait. Its documentation lists the guarantees every implementation
//!   keeps; one conformance suite (`tests/conformance.rs`) checks them on SQLite,
//!   PostgreSQL and through gRPC.
//! * [`SqlStore`] — the trait on SQLite (a local file; the embedded default) or PostgreSQL.
//! * [`grpc`] — the `tiercache.v1` services ([`grpc::serve`]) and [`StoreClient`], the same
//!   trait over the wire. Errors cross the wire as one [`StoreError`] variant each.
//! * [`dataset`] — the Kepler-like table generator and the CSV importer behind
//!   `tiercache load`.
//!
//! Limits ([`Limits`]): keys 1..=512 bytes, values up to 1 MiB, batches up to 10 000 items,
//! all configurable; an oversized request is rejected before any SQL runs.

mod clock;
pub mod dataset;
mod error;
pub mod faults;
pub mod grpc;
mod limits;
mod model;
mod sql;
mod store;

pub use clock::WallClock;
pub use error::{StoreError, StoreResult};
pub use grpc::client::StoreClient;
pub use limits::Limits;
pub use model::{Lease, Lookup, Object, Precondition, Registration, ScanPage, StateEntry};
pub use sql::{DatabaseUrl, SqlOptions, SqlStore};
pub use store::Store;
