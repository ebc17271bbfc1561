//! SQL text shared by both backends (sqlx's SQLite driver accepts `$n` placeholders).

pub(crate) const GET: &str = "SELECT value, version FROM objects WHERE key = $1";
pub(crate) const GET_MANY_POSTGRES: &str =
    "SELECT key, value, version FROM objects WHERE key = ANY($1)";

pub(crate) const PUT: &str = "INSERT INTO objects (key, value, version) VALUES ($1, $2, 1)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = objects.version + 1
    RETURNING version";
pub(crate) const PUT_IF_NEW: &str = "INSERT INTO objects (key, value, version) VALUES ($1, $2, 1)
    ON CONFLICT (key) DO NOTHING
    RETURNING version";
pub(crate) const PUT_IF_VERSION: &str =
    "UPDATE objects SET value = $2, version = version + 1 WHERE key = $1 AND version = $3
    RETURNING version";
pub(crate) const PUT_IF_ABSENT: &str =
    "INSERT INTO objects (key, value, version) VALUES ($1, $2, 1)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = objects.version + 1
    WHERE objects.value IS NULL
    RETURNING version";
pub(crate) const PUT_MANY_POSTGRES: &str = "INSERT INTO objects (key, value, version)
    SELECT k, v, 1 FROM UNNEST($1::bytea[], $2::bytea[]) AS batch(k, v)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = objects.version + 1
    RETURNING key, version";

pub(crate) const DELETE: &str = "UPDATE objects SET value = NULL, version = version + 1
    WHERE key = $1 AND value IS NOT NULL
    RETURNING version";
pub(crate) const DELETE_IF_VERSION: &str = "UPDATE objects SET value = NULL, version = version + 1
    WHERE key = $1 AND value IS NOT NULL AND version = $2
    RETURNING version";

pub(crate) const SCAN_BOUNDED: &str = "SELECT key, value, version FROM objects
    WHERE key > $1 AND key >= $2 AND key < $3 AND value IS NOT NULL
    ORDER BY key LIMIT $4";
pub(crate) const SCAN_UNBOUNDED: &str = "SELECT key, value, version FROM objects
    WHERE key > $1 AND key >= $2 AND value IS NOT NULL
    ORDER BY key LIMIT $3";

pub(crate) const PURGE_REGISTRY: &str = "DELETE FROM registry WHERE expires_at_ms <= $1";
pub(crate) const REGISTER: &str =
    "INSERT INTO registry (role, id, address, expires_at_ms) VALUES ($1, $2, $3, $4)
    ON CONFLICT (role, id) DO UPDATE
    SET address = excluded.address, expires_at_ms = excluded.expires_at_ms";
pub(crate) const HEARTBEAT: &str = "UPDATE registry SET expires_at_ms = $3
    WHERE role = $1 AND id = $2 AND expires_at_ms > $4
    RETURNING address, expires_at_ms";
pub(crate) const DEREGISTER: &str = "DELETE FROM registry WHERE role = $1 AND id = $2";
pub(crate) const LOOKUP: &str = "SELECT id, address, expires_at_ms FROM registry
    WHERE role = $1 AND expires_at_ms > $2 ORDER BY id";

/// Free or expired: a new epoch. Held live by the same holder: extended at the same epoch.
/// Held live by another holder: no row comes back.
pub(crate) const ACQUIRE_LEASE: &str =
    "INSERT INTO admin_leases (name, holder, epoch, expires_at_ms) VALUES ($1, $2, 1, $3)
    ON CONFLICT (name) DO UPDATE SET
        epoch = CASE
            WHEN admin_leases.holder = excluded.holder AND admin_leases.expires_at_ms > $4
            THEN admin_leases.epoch
            ELSE admin_leases.epoch + 1
        END,
        holder = excluded.holder,
        expires_at_ms = excluded.expires_at_ms
    WHERE admin_leases.holder = excluded.holder OR admin_leases.expires_at_ms <= $4
    RETURNING epoch";
pub(crate) const RENEW_LEASE: &str = "UPDATE admin_leases SET expires_at_ms = $4
    WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at_ms > $5
    RETURNING expires_at_ms";
pub(crate) const RELEASE_LEASE: &str = "UPDATE admin_leases SET expires_at_ms = 0
    WHERE name = $1 AND holder = $2 AND epoch = $3";
pub(crate) const READ_LEASE: &str =
    "SELECT holder, epoch, expires_at_ms FROM admin_leases WHERE name = $1";
/// PostgreSQL: the share lock makes a concurrent acquire (an UPDATE of the row) wait until
/// the fenced write committed, so no write of an old epoch lands after a new epoch began.
/// SQLite needs no lock clause: its write transactions are serial.
pub(crate) const LEASE_EPOCH_FOR_WRITE_POSTGRES: &str =
    "SELECT epoch, expires_at_ms FROM admin_leases WHERE name = $1 FOR SHARE";
pub(crate) const LEASE_EPOCH_FOR_WRITE_SQLITE: &str =
    "SELECT epoch, expires_at_ms FROM admin_leases WHERE name = $1";
pub(crate) const WRITE_STATE: &str =
    "INSERT INTO admin_state (lease, key, value, epoch) VALUES ($1, $2, $3, $4)
    ON CONFLICT (lease, key) DO UPDATE SET value = excluded.value, epoch = excluded.epoch";
pub(crate) const READ_STATE: &str =
    "SELECT value, epoch FROM admin_state WHERE lease = $1 AND key = $2";
pub(crate) const LIST_STATE: &str =
    "SELECT key, value, epoch FROM admin_state WHERE lease = $1 ORDER BY key";
