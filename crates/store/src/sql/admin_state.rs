//! [`AdminState`] on SQL: the lease row with its epoch, and state writes fenced by that
//! epoch inside their transaction.

use std::time::Duration;

use async_trait::async_trait;

use super::database::{Backend, SqlStore, on_reader, on_writer, written};
use super::queries as q;
use crate::admin_state::{AdminState, Lease, StateEntry};
use crate::error::{StoreError, StoreResult};
use crate::limits::{check_name, ttl_ms};

impl SqlStore {
    /// The lease's row as it stands: (holder, epoch, expiry in ms).
    async fn current_lease(&self, name: &str) -> StoreResult<Option<(String, u64, i64)>> {
        let row: Option<(String, i64, i64)> = on_reader!(self, pool => {
            sqlx::query_as(q::READ_LEASE).bind(name).fetch_optional(pool).await
        })?;
        Ok(row.map(|(holder, epoch, expires)| (holder, epoch as u64, expires)))
    }
}

#[async_trait]
impl AdminState for SqlStore {
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Lease> {
        check_name("lease name", name)?;
        check_name("holder", holder)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl_ms(ttl)?;
        let epoch: Option<i64> = on_writer!(self, pool => {
            sqlx::query_scalar(q::ACQUIRE_LEASE)
                .bind(name)
                .bind(holder)
                .bind(expires_at_ms)
                .bind(now)
                .fetch_all(pool)
                .await
                .map(written)
        })?;
        match epoch {
            Some(epoch) => Ok(Lease {
                name: name.to_owned(),
                holder: holder.to_owned(),
                epoch: epoch as u64,
                expires_at_ms,
            }),
            None => {
                let (holder, epoch, _) = self.current_lease(name).await?.unwrap_or_default();
                Err(StoreError::LeaseHeld {
                    name: name.to_owned(),
                    holder,
                    epoch,
                })
            }
        }
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        ttl: Duration,
    ) -> StoreResult<Lease> {
        check_name("lease name", name)?;
        check_name("holder", holder)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl_ms(ttl)?;
        let renewed: Option<i64> = on_writer!(self, pool => {
            sqlx::query_scalar(q::RENEW_LEASE)
                .bind(name)
                .bind(holder)
                .bind(epoch as i64)
                .bind(expires_at_ms)
                .bind(now)
                .fetch_all(pool)
                .await
                .map(written)
        })?;
        match renewed {
            Some(expires_at_ms) => Ok(Lease {
                name: name.to_owned(),
                holder: holder.to_owned(),
                epoch,
                expires_at_ms,
            }),
            None => match self.current_lease(name).await? {
                Some((current_holder, current, _))
                    if current == epoch && current_holder == holder =>
                {
                    Err(StoreError::LeaseExpired {
                        name: name.to_owned(),
                        epoch,
                    })
                }
                current => Err(StoreError::StaleEpoch {
                    presented: epoch,
                    current: current.map_or(0, |(_, epoch, _)| epoch),
                }),
            },
        }
    }

    async fn release_lease(&self, name: &str, holder: &str, epoch: u64) -> StoreResult<()> {
        on_writer!(self, pool => {
            sqlx::query(q::RELEASE_LEASE)
                .bind(name)
                .bind(holder)
                .bind(epoch as i64)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    async fn read_state(&self, lease: &str, key: &str) -> StoreResult<Option<StateEntry>> {
        check_name("lease name", lease)?;
        let row: Option<(Vec<u8>, i64)> = on_reader!(self, pool => {
            sqlx::query_as(q::READ_STATE).bind(lease).bind(key).fetch_optional(pool).await
        })?;
        Ok(row.map(|(value, epoch)| StateEntry {
            key: key.to_owned(),
            value,
            epoch: epoch as u64,
        }))
    }

    async fn list_state(&self, lease: &str) -> StoreResult<Vec<StateEntry>> {
        check_name("lease name", lease)?;
        let rows: Vec<(String, Vec<u8>, i64)> = on_reader!(self, pool => {
            sqlx::query_as(q::LIST_STATE).bind(lease).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(key, value, epoch)| StateEntry {
                key,
                value,
                epoch: epoch as u64,
            })
            .collect())
    }

    async fn write_state(
        &self,
        lease: &str,
        key: &str,
        value: &[u8],
        epoch: u64,
    ) -> StoreResult<()> {
        check_name("lease name", lease)?;
        check_name("state key", key)?;
        self.limits.check_value(value)?;
        let fence = match self.backend {
            Backend::Sqlite { .. } => q::LEASE_EPOCH_FOR_WRITE_SQLITE,
            Backend::Postgres(_) => q::LEASE_EPOCH_FOR_WRITE_POSTGRES,
        };
        let now = self.clock.now_ms();
        let begin = self.begin_write();
        on_writer!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let lease_row: Option<(i64, i64)> =
                sqlx::query_as(fence).bind(lease).fetch_optional(&mut *tx).await?;
            // Dropping the transaction on an early return rolls it back.
            let Some((current, expires_at_ms)) = lease_row else {
                return Err(StoreError::StaleEpoch { presented: epoch, current: 0 });
            };
            if current as u64 != epoch {
                return Err(StoreError::StaleEpoch { presented: epoch, current: current as u64 });
            }
            if expires_at_ms <= now {
                return Err(StoreError::LeaseExpired { name: lease.to_owned(), epoch });
            }
            sqlx::query(q::WRITE_STATE)
                .bind(lease)
                .bind(key)
                .bind(value)
                .bind(epoch as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
