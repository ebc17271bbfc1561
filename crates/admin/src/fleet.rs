//! The fleet view behind the admin's dashboard: every API node registered in the binder,
//! with its own `/v1/stats` as it answered just now (or why it did not).

use std::time::Duration;

use serde::Serialize;
use tiercache_core::Secret;

use crate::admin::Admin;

/// The binder role API nodes register under (`tiercache_deploy` registers them with it).
pub const API_ROLE: &str = "api";

/// How long one node's stats may take: the dashboard polls every second.
const STATS_TIMEOUT: Duration = Duration::from_millis(800);

/// One registered API node, as the admin reached it.
#[derive(Debug, Clone, Serialize)]
pub struct FleetNode {
    /// Its id in the binder.
    pub id: String,
    /// Its address in the binder.
    pub address: String,
    /// Its `/v1/stats`, as the node wrote them (`None` when it did not answer).
    pub stats: Option<serde_json::Value>,
    /// Why there are no stats.
    pub error: Option<String>,
}

/// `GET /v1/admin/nodes`.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    /// This admin's id.
    pub admin: String,
    /// Every API node the binder lists, by id.
    pub nodes: Vec<FleetNode>,
}

impl Admin {
    /// Every live API node in the binder, each asked for its stats at once (bounded).
    pub async fn fleet(&self) -> Result<Fleet, String> {
        let mut entries = self
            .store()
            .lookup(API_ROLE)
            .await
            .map_err(|error| format!("the binder cannot be read: {error}"))?;
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        let token = self.options().api_token.as_ref().map(Secret::expose);
        let asks = entries.into_iter().map(|entry| async move {
            let answer = tiercache_log::http::request_with_token(
                &entry.address,
                "GET",
                "/v1/stats",
                None,
                token,
                STATS_TIMEOUT,
            )
            .await;
            let (stats, error) = match answer {
                Ok((200, body)) => match serde_json::from_slice(&body) {
                    Ok(stats) => (Some(stats), None),
                    Err(error) => (None, Some(format!("stats that do not parse: {error}"))),
                },
                Ok((status @ (401 | 403), _)) => (
                    None,
                    Some(format!(
                        "/v1/stats answered {status}: the node asks for a token with the admin scope (admin --api-token-file)"
                    )),
                ),
                Ok((status, _)) => (None, Some(format!("/v1/stats answered {status}"))),
                Err(error) => (None, Some(error)),
            };
            FleetNode {
                id: entry.id,
                address: entry.address,
                stats,
                error,
            }
        });
        Ok(Fleet {
            admin: self.options().id.clone(),
            nodes: futures_util::future::join_all(asks).await,
        })
    }
}
