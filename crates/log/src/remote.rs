//! [`RemoteCopy`]: another log node over HTTP — its copies of the logs ([`LogCopy`]), its
//! status, and the admin's assignment.

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::copy::{CopyPage, LogCopy};
use crate::error::{LogError, LogResult};
use crate::http::request;
use crate::id::MessageId;
use crate::wire::{AssignmentBody, IdsPage, NodeStatus, Page};

/// How long a request may take when nothing says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A log node reached over HTTP at its URL.
#[derive(Debug, Clone)]
pub struct RemoteCopy {
    url: String,
    timeout: Duration,
}

impl RemoteCopy {
    /// The log node at `url` (`http://HOST:PORT`).
    pub fn new(url: impl Into<String>) -> RemoteCopy {
        RemoteCopy {
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Bounds every request by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> RemoteCopy {
        self.timeout = timeout;
        self
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET /v1/log`.
    pub async fn status(&self) -> LogResult<NodeStatus> {
        self.call("GET", "/v1/log", None).await
    }

    /// `POST /v1/log/assignment`: the node takes `body` (see
    /// [`LogNode::apply`](crate::LogNode::apply)) and answers its status.
    pub async fn assign(&self, body: &AssignmentBody) -> LogResult<NodeStatus> {
        let body = serde_json::to_vec(body).expect("an assignment always serializes");
        self.call("POST", "/v1/log/assignment", Some(body)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> LogResult<T> {
        let (status, answer) = request(&self.url, method, path, body, self.timeout)
            .await
            .map_err(LogError::Unreachable)?;
        if status == 409 {
            // The one refusal a caller acts on: an assignment older than the node's.
            let detail: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
            if let (Some(got), Some(current)) = (detail["got"].as_u64(), detail["current"].as_u64())
            {
                return Err(LogError::StaleAssignment { got, current });
            }
        }
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&answer);
            return Err(LogError::Unreachable(format!(
                "{method} {path} on {} answered {status}: {text}",
                self.url
            )));
        }
        serde_json::from_slice(&answer).map_err(|error| {
            LogError::Unreachable(format!(
                "{method} {path} on {} answered something unreadable: {error}",
                self.url
            ))
        })
    }

    async fn page(&self, path: String) -> LogResult<CopyPage> {
        let page: Page = self.call("GET", &path, None).await?;
        Ok(CopyPage {
            ready: page.ready,
            len: page.len,
            records: page
                .records
                .iter()
                .map(|record| record.decode())
                .collect::<LogResult<_>>()?,
        })
    }
}

#[async_trait]
impl LogCopy for RemoteCopy {
    fn name(&self) -> &str {
        &self.url
    }

    async fn read_after(
        &self,
        app: &str,
        after: Option<MessageId>,
        limit: usize,
    ) -> LogResult<CopyPage> {
        let after = after.map(|id| format!("&after={id}")).unwrap_or_default();
        self.page(format!("/v1/log/{app}/messages?limit={limit}{after}"))
            .await
    }

    async fn read(&self, app: &str, from: u64, limit: usize) -> LogResult<CopyPage> {
        self.page(format!("/v1/log/{app}/records?from={from}&limit={limit}"))
            .await
    }

    async fn ids_since(
        &self,
        app: &str,
        from: u64,
        limit: usize,
    ) -> LogResult<(Vec<MessageId>, u64)> {
        let path = format!("/v1/log/{app}/ids?from={from}&limit={limit}");
        let page: IdsPage = self.call("GET", &path, None).await?;
        let ids = page
            .ids
            .iter()
            .map(|id| {
                id.parse().map_err(|error| {
                    LogError::Unreachable(format!("{} sent a bad id {id:?}: {error}", self.url))
                })
            })
            .collect::<LogResult<_>>()?;
        Ok((ids, page.len))
    }
}
