//! [`AdminClient`]: the admin's requests over HTTP, for whoever needs an assignment (the API
//! nodes' log writes, the tests, the tools).

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::error::{AdminError, AdminResult};
use crate::service::{AdminService, AdminStatus, Assignment};

/// How long a request may take when nothing says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One admin instance over HTTP. It talks to the instance it was given: on `NotActive` the
/// caller may retry on the URL the error names.
#[derive(Debug, Clone)]
pub struct AdminClient {
    url: String,
    timeout: Duration,
}

impl AdminClient {
    /// The admin at `url` (`http://HOST:PORT`).
    pub fn new(url: impl Into<String>) -> AdminClient {
        AdminClient {
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Bounds every request by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> AdminClient {
        self.timeout = timeout;
        self
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
    ) -> AdminResult<(u16, Option<T>)> {
        let (status, body) =
            tiercache_log::http::request(&self.url, method, path, None, self.timeout)
                .await
                .map_err(AdminError::Unreachable)?;
        if status == 404 {
            return Ok((status, None));
        }
        if !(200..300).contains(&status) {
            let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            return Err(
                serde_json::from_value(error["detail"].clone()).unwrap_or_else(|_| {
                    AdminError::Unreachable(format!("{method} {path} answered {status}: {error}"))
                }),
            );
        }
        let value = serde_json::from_slice(&body).map_err(|error| {
            AdminError::Unreachable(format!(
                "{method} {path} answered something unreadable: {error}"
            ))
        })?;
        Ok((status, Some(value)))
    }
}

fn app_path(app: &str) -> AdminResult<String> {
    tiercache_log::check_app(app).map_err(AdminError::InvalidApp)?;
    Ok(format!("/v1/admin/apps/{app}"))
}

#[async_trait]
impl AdminService for AdminClient {
    async fn status(&self) -> AdminResult<AdminStatus> {
        let (_, status) = self.call("GET", "/v1/admin").await?;
        status.ok_or_else(|| AdminError::Unreachable(format!("{} has no /v1/admin", self.url)))
    }

    async fn activate_log(&self, app: &str) -> AdminResult<Assignment> {
        let (_, assignment) = self.call("POST", &app_path(app)?).await?;
        assignment
            .ok_or_else(|| AdminError::Unreachable(format!("{} has no admin routes", self.url)))
    }

    async fn assignment(&self, app: &str) -> AdminResult<Option<Assignment>> {
        Ok(self.call("GET", &app_path(app)?).await?.1)
    }
}
