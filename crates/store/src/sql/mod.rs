//! [`SqlStore`]: the store's three services on SQLite (embedded default) or PostgreSQL.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` and a busy timeout. Everything but object
//! reads goes through a single sqlx writer connection (SQLite has one writer at a time
//! anyway; one connection turns lock waits into an in-process queue); object reads run
//! inline on pooled rusqlite connections that WAL lets read beside the writer (see
//! `sqlite_reads.rs` for why). PostgreSQL uses one sqlx pool. Both run the same SQL (see
//! `queries.rs`) apart from two batch statements that PostgreSQL does in one round trip
//! with arrays.

/// The lease and the fenced state.
mod admin_state;
/// Opening by URL, options, pools, closing: [`SqlStore`] itself.
mod database;
/// Versioned objects.
mod objects;
/// The outbox of writes whose notices were not confirmed published.
mod outbox;
/// The SQL text every service runs, shared by both backends.
mod queries;
/// The binder.
mod registry;
/// The tables and their migrations.
mod schema;
/// Object reads on SQLite, inline on pooled rusqlite connections.
mod sqlite_reads;

pub use database::{DatabaseUrl, SqlOptions, SqlStore};
