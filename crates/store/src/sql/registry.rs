//! [`Registry`] on SQL: registrations with an expiry on the store's clock; a registration
//! purges the expired ones.

use std::time::Duration;

use async_trait::async_trait;

use super::database::{SqlStore, on_reader, on_writer, written};
use super::queries as q;
use crate::error::{StoreError, StoreResult};
use crate::limits::{check_name, ttl_ms};
use crate::registry::{Registration, Registry};

#[async_trait]
impl Registry for SqlStore {
    async fn register(
        &self,
        role: &str,
        id: &str,
        address: &str,
        ttl: Duration,
    ) -> StoreResult<Registration> {
        check_name("role", role)?;
        check_name("id", id)?;
        check_name("address", address)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl_ms(ttl)?;
        on_writer!(self, pool => {
            sqlx::query(q::PURGE_REGISTRY).bind(now).execute(pool).await?;
            sqlx::query(q::REGISTER)
                .bind(role)
                .bind(id)
                .bind(address)
                .bind(expires_at_ms)
                .execute(pool)
                .await?;
        });
        Ok(Registration {
            role: role.to_owned(),
            id: id.to_owned(),
            address: address.to_owned(),
            expires_at_ms,
        })
    }

    async fn heartbeat(&self, role: &str, id: &str, ttl: Duration) -> StoreResult<Registration> {
        check_name("role", role)?;
        check_name("id", id)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl_ms(ttl)?;
        let row: Option<(String, i64)> = on_writer!(self, pool => {
            sqlx::query_as(q::HEARTBEAT)
                .bind(role)
                .bind(id)
                .bind(expires_at_ms)
                .bind(now)
                .fetch_all(pool)
                .await
                .map(written)
        })?;
        let (address, expires_at_ms) = row.ok_or_else(|| {
            StoreError::NotFound(format!(
                "no live registration of {role}/{id}: register again"
            ))
        })?;
        Ok(Registration {
            role: role.to_owned(),
            id: id.to_owned(),
            address,
            expires_at_ms,
        })
    }

    async fn deregister(&self, role: &str, id: &str) -> StoreResult<()> {
        on_writer!(self, pool => {
            sqlx::query(q::DEREGISTER).bind(role).bind(id).execute(pool).await.map(drop)
        })?;
        Ok(())
    }

    async fn lookup(&self, role: &str) -> StoreResult<Vec<Registration>> {
        check_name("role", role)?;
        let now = self.clock.now_ms();
        let rows: Vec<(String, String, i64)> = on_reader!(self, pool => {
            sqlx::query_as(q::LOOKUP).bind(role).bind(now).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, address, expires_at_ms)| Registration {
                role: role.to_owned(),
                id,
                address,
                expires_at_ms,
            })
            .collect())
    }
}
