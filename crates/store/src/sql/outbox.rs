//! The outbox on SQL: rows added by triggers on `objects` (see `schema.rs`), claimed
//! oldest first with one `UPDATE … RETURNING`, and deleted when confirmed.

use std::time::Duration;

use tiercache_core::Version;

use super::database::{Backend, SqlStore, on_writer};
use crate::error::StoreResult;
use crate::object_store::PendingNotice;

/// Claims rows old enough and unclaimed (or whose claim lapsed), by the database's clock
/// (see `schema.rs`); `$1` the age in ms, `$2` the claim in ms, `$3` the limit.
const CLAIM_SQLITE: &str = "UPDATE outbox
    SET claimed_until_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + $2
    WHERE (key, version) IN (
        SELECT key, version FROM outbox
        WHERE written_at_ms <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - $1
          AND claimed_until_ms <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        ORDER BY written_at_ms LIMIT $3)
    RETURNING key, version";
/// The same on PostgreSQL; two sweepers at once skip each other's rows instead of waiting.
const CLAIM_POSTGRES: &str = "UPDATE outbox
    SET claimed_until_ms = (extract(epoch from clock_timestamp()) * 1000)::bigint + $2
    WHERE (key, version) IN (
        SELECT key, version FROM outbox
        WHERE written_at_ms <= (extract(epoch from clock_timestamp()) * 1000)::bigint - $1
          AND claimed_until_ms <= (extract(epoch from clock_timestamp()) * 1000)::bigint
        ORDER BY written_at_ms LIMIT $3
        FOR UPDATE SKIP LOCKED)
    RETURNING key, version";

/// Deletes a key's rows up to a version.
const CONFIRM: &str = "DELETE FROM outbox WHERE key = $1 AND version <= $2";

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl SqlStore {
    pub(super) async fn claim_outbox(
        &self,
        older_than: Duration,
        claim_for: Duration,
        limit: usize,
    ) -> StoreResult<Vec<PendingNotice>> {
        let limit = limit.clamp(1, self.limits.max_batch_items.max(1)) as i64;
        let rows: Vec<(Vec<u8>, i64)> = match &self.backend {
            Backend::Sqlite { writer, .. } => {
                sqlx::query_as(CLAIM_SQLITE)
                    .bind(millis(older_than))
                    .bind(millis(claim_for))
                    .bind(limit)
                    .fetch_all(writer)
                    .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_as(CLAIM_POSTGRES)
                    .bind(millis(older_than))
                    .bind(millis(claim_for))
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
        };
        let mut notices: Vec<PendingNotice> = rows
            .into_iter()
            .map(|(key, raw)| PendingNotice {
                key,
                version: Version(raw as u64),
            })
            .collect();
        notices.sort_by(|a, b| (&a.key, a.version).cmp(&(&b.key, b.version)));
        Ok(notices)
    }

    pub(super) async fn confirm_outbox(&self, notices: &[PendingNotice]) -> StoreResult<()> {
        self.limits.check_batch(notices.len())?;
        if notices.is_empty() {
            return Ok(());
        }
        // In key order, in one transaction: one commit for the batch, and concurrent
        // confirmations lock rows in one global order (no deadlock on PostgreSQL).
        let mut ordered: Vec<&PendingNotice> = notices.iter().collect();
        ordered.sort_by(|a, b| (&a.key, a.version).cmp(&(&b.key, b.version)));
        let begin = self.begin_write();
        on_writer!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            for notice in &ordered {
                self.limits.check_key(&notice.key)?;
                sqlx::query(CONFIRM)
                    .bind(notice.key.as_slice())
                    .bind(notice.version.0 as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
