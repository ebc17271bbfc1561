//! The tables, one migration list per backend. The two differ only in column types
//! (`BLOB`/`INTEGER` on SQLite, `BYTEA`/`BIGINT` on PostgreSQL); every query is shared.
//!
//! * `objects(key, value, version)`: `value IS NULL` marks a tombstone. `version` is the
//!   key's last version, live or deleted.
//! * `registry(role, id, address, expires_at_ms)`: the binder.
//! * `admin_leases(name, holder, epoch, expires_at_ms)` and
//!   `admin_state(lease, key, value, epoch)`: the admin service's lease and fenced state.
//! * `outbox(key, version, written_at_ms, claimed_until_ms)` (version 2): one row per write
//!   of `objects`, added by a trigger in the write's own transaction, so no write can
//!   commit without it; deleted once a node confirms the write's notice was published
//!   (see [`ObjectStore::claim_unpublished`](crate::ObjectStore::claim_unpublished)).
//!   Times are the database's clock, in ms since the Unix epoch.

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

const SQLITE_V2: &str = "
CREATE TABLE outbox (
    key BLOB NOT NULL,
    version INTEGER NOT NULL,
    written_at_ms INTEGER NOT NULL,
    claimed_until_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key, version)
);
CREATE INDEX outbox_by_age ON outbox (written_at_ms);
CREATE TRIGGER objects_outbox_insert AFTER INSERT ON objects BEGIN
    INSERT OR IGNORE INTO outbox (key, version, written_at_ms)
    VALUES (NEW.key, NEW.version, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER objects_outbox_update AFTER UPDATE ON objects BEGIN
    INSERT OR IGNORE INTO outbox (key, version, written_at_ms)
    VALUES (NEW.key, NEW.version, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
";

const POSTGRES_V2: &str = "
CREATE TABLE outbox (
    key BYTEA NOT NULL,
    version BIGINT NOT NULL,
    written_at_ms BIGINT NOT NULL,
    claimed_until_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key, version)
);
CREATE INDEX outbox_by_age ON outbox (written_at_ms);
CREATE FUNCTION tiercache_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (key, version, written_at_ms)
    VALUES (NEW.key, NEW.version, (extract(epoch from clock_timestamp()) * 1000)::bigint)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER objects_outbox AFTER INSERT OR UPDATE ON objects
    FOR EACH ROW EXECUTE FUNCTION tiercache_outbox();
";

fn migrator(v1: &'static str, v2: &'static str) -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![
            Migration::new(
                1,
                Cow::Borrowed("objects, registry, admin lease and state"),
                MigrationType::Simple,
                v1.into_sql_str(),
                false,
            ),
            Migration::new(
                2,
                Cow::Borrowed("the outbox of writes whose notices were not confirmed published"),
                MigrationType::Simple,
                v2.into_sql_str(),
                false,
            ),
        ]),
        table_name: Cow::Borrowed("tiercache_migrations"),
        ..Migrator::DEFAULT
    }
}

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE_V1, SQLITE_V2)
}

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES_V1, POSTGRES_V2)
}
