//! [`AdminOptions`]: who an admin instance is and how fast it acts.

use std::time::Duration;

use tiercache_core::Secret;

use crate::placement::REPLICAS;

/// How long the admin lease lives unless renewed, when nothing says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);

/// An admin instance's settings.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// Its id: the lease's holder name and its id in the binder (role `admin`).
    pub id: String,
    /// Where it is reached (`http://HOST:PORT`), announced to the other admins.
    pub url: String,
    /// The lease's time-to-live. The active renews it every third of it; a standby takes
    /// over within one lease (plus one tick) of the active's last renewal.
    pub lease: Duration,
    /// How many log nodes serve each application.
    pub replicas: usize,
    /// The bearer token (with the `admin` scope) sent to API nodes that ask for one, when
    /// the dashboard reads their `/v1/stats`.
    pub api_token: Option<Secret>,
}

impl AdminOptions {
    /// `id` reached at `url`, with the default lease and replica count.
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> AdminOptions {
        AdminOptions {
            id: id.into(),
            url: url.into(),
            lease: DEFAULT_LEASE,
            replicas: REPLICAS,
            api_token: None,
        }
    }

    /// How often an instance acts: the active renews and repairs, a standby tries to take
    /// over. A third of the lease, so two renewals in a row may fail before it lapses.
    pub fn tick(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(1))
    }
}
