//! What the handlers share: the API's options and the state every request sees.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tiercache_node::Node;

use crate::access::Access;
use crate::listener::ServeLimits;
use crate::log_service::LogService;

/// How the API behaves.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The largest request body accepted (default 1 MiB + 64 KiB: the store's default value
    /// limit, with room for the node to answer a too-large value with its own message).
    pub max_body_bytes: usize,
    /// How long a request may take before the API answers 503 (default 10 s).
    pub request_timeout: Duration,
    /// The node's name in `/v1/stats` and `/metrics` (default `api`).
    pub node_name: String,
    /// The listener's limits: header time and connections (see [`ServeLimits`]).
    pub limits: ServeLimits,
    /// Who may send which request: tokens, their scopes, a rate limit (see [`Access`];
    /// by default everything is open and unlimited).
    pub access: Access,
    /// Serve TLS with this identity's certificate (clients are not asked for one); none:
    /// plain HTTP.
    pub tls: Option<tiercache_tls::Identity>,
}

impl Default for ApiOptions {
    fn default() -> ApiOptions {
        ApiOptions {
            max_body_bytes: (1 << 20) + (64 << 10),
            request_timeout: Duration::from_secs(10),
            node_name: "api".to_owned(),
            limits: ServeLimits::default(),
            access: Access::default(),
            tls: None,
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) node: Arc<Node>,
    pub(crate) options: ApiOptions,
    /// The application logs, when the node has a bus shared with log nodes.
    pub(crate) logs: Option<Arc<LogService>>,
    pub(crate) started: Instant,
}
