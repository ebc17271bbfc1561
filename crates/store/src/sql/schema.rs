//! The tables, one migration list per backend. The two differ only in column types
//! (`BLOB`/`INTEGER` on SQLite, `BYTEA`/`BIGINT` on PostgreSQL); every query is shared.
//!
//! * `objects(key, value, version)`: `value IS NULL` marks a tombstone. `version` is the
//!   key's last version, live or deleted.
//! * `registry(role, id, address, expires_at_ms)`: the binder.
//! * `admin_leases(name, holder, epoch, expires_at_ms)` and
//!   `admin_state(lease, key, value, epoch)`: the admin service's lease and fenced state.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

const SQLITE_V1: &str = "
CREATE TABLE objects (
    key BLOB PRIMARY KEY NOT NULL,
    value BLOB,
    version INTEGER NOT NULL
);
CREATE TABLE registry (
    role TEXT NOT NULL,
    id TEXT NOT NULL,
    address TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (role, id)
);
CREATE TABLE admin_leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE TABLE admin_state (
    lease TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    PRIMARY KEY (lease, key)
);
";

const POSTGRES_V1: &str = "
CREATE TABLE objects (
    key BYTEA PRIMARY KEY,
    value BYTEA,
    version BIGINT NOT NULL
);
CREATE TABLE registry (
    role TEXT NOT NULL,
    id TEXT NOT NULL,
    address TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (role, id)
);
CREATE TABLE admin_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE TABLE admin_state (
    lease TEXT NOT NULL,
    key TEXT NOT NULL,
    value BYTEA NOT NULL,
    epoch BIGINT NOT NULL,
    PRIMARY KEY (lease, key)
);
";

fn migrator(v1: &'static str) -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![Migration::new(
            1,
            Cow::Borrowed("objects, registry, admin lease and state"),
            MigrationType::Simple,
            v1.into_sql_str(),
            false,
        )]),
        table_name: Cow::Borrowed("tiercache_migrations"),
        ..Migrator::DEFAULT
    }
}

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE_V1)
}

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES_V1)
}
