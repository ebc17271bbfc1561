//! [`Store`]: the three services of the store together, for whoever opens "the store" by
//! URL and serves or uses all of it.

use crate::admin_state::AdminState;
use crate::object_store::ObjectStore;
use crate::registry::Registry;

/// The whole store: objects, the registry and the admin state, as served by
/// `tiercache store`. Implemented by everything that implements all three services
/// ([`SqlStore`](crate::SqlStore), [`StoreClient`](crate::StoreClient)); it adds no method,
/// so each guarantee is the one its service's trait states.
///
/// Hold an `Arc<dyn Store>` where one handle must reach every service (the gRPC server);
/// hand out the narrower trait where only one service is used (the deployment opens the
/// whole store by URL, then gives an API node its `Arc<dyn ObjectStore>` and the node's
/// binder membership its `Arc<dyn Registry>`) — `Arc<dyn Store>` coerces to each by trait
/// upcasting.
pub trait Store: ObjectStore + Registry + AdminState {}

impl<T: ObjectStore + Registry + AdminState> Store for T {}
