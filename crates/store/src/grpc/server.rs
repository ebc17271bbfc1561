//! The services: thin translation between protobuf messages and the store's traits
//! ([`ObjectStore`], [`Registry`], [`AdminState`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::metadata::MetadataValue;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_reflection::server::{v1, v1alpha};

use super::metrics::RpcMetrics;
use super::proto::{self, admin_state_server, object_store_server, registry_server};
use super::{TOMBSTONE_VERSION_HEADER, status_from_error};
use crate::admin_state::{Lease, StateEntry};
use crate::error::StoreError;
use crate::limits::Limits;
use crate::object_store::{ObjectRead, PendingNotice, Precondition};
use crate::registry::Registration;
use crate::store::Store;
use tiercache_core::Version;

type RpcResult<T> = Result<Response<T>, Status>;

fn reply<T, U>(result: Result<T, StoreError>, convert: impl FnOnce(T) -> U) -> RpcResult<U> {
    result
        .map(|value| Response::new(convert(value)))
        .map_err(|error| status_from_error(&error))
}

fn ttl(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn precondition(message: Option<proto::Precondition>) -> Precondition {
    use proto::precondition::Condition;
    match message.and_then(|p| p.condition) {
        None => Precondition::None,
        Some(Condition::Version(version)) => Precondition::Version(Version(version)),
        Some(Condition::Absent(_)) => Precondition::Absent,
    }
}

fn read_message(key: Vec<u8>, read: ObjectRead) -> proto::Lookup {
    use proto::lookup::State;
    let (state, value, version) = match read {
        ObjectRead::Absent => (State::Absent, Vec::new(), 0),
        ObjectRead::Live { value, version } => (State::Live, value, version.0),
        ObjectRead::Deleted { version } => (State::Deleted, Vec::new(), version.0),
    };
    proto::Lookup {
        key,
        state: state as i32,
        value,
        version,
    }
}

fn registration(r: Registration) -> proto::Registration {
    proto::Registration {
        role: r.role,
        id: r.id,
        address: r.address,
        expires_at_ms: r.expires_at_ms,
    }
}

fn lease(l: Lease) -> proto::Lease {
    proto::Lease {
        name: l.name,
        holder: l.holder,
        epoch: l.epoch,
        expires_at_ms: l.expires_at_ms,
    }
}

fn state_entry(e: StateEntry) -> proto::StateEntry {
    proto::StateEntry {
        key: e.key,
        value: e.value,
        epoch: e.epoch,
    }
}

/// One handle implementing the three services over a shared store.
#[derive(Clone)]
struct Services {
    store: Arc<dyn Store>,
}

#[tonic::async_trait]
impl object_store_server::ObjectStore for Services {
    async fn get(&self, request: Request<proto::GetRequest>) -> RpcResult<proto::Object> {
        let key = request.into_inner().key;
        match self.store.get(&key).await {
            Ok(ObjectRead::Live { value, version }) => Ok(Response::new(proto::Object {
                key,
                value,
                version: version.0,
            })),
            Ok(ObjectRead::Absent) => Err(Status::not_found("no object under the key")),
            Ok(ObjectRead::Deleted { version }) => {
                let mut status =
                    Status::not_found(format!("the key was deleted at version {version}"));
                status
                    .metadata_mut()
                    .insert(TOMBSTONE_VERSION_HEADER, MetadataValue::from(version.0));
                Err(status)
            }
            Err(error) => Err(status_from_error(&error)),
        }
    }

    async fn batch_get(
        &self,
        request: Request<proto::BatchGetRequest>,
    ) -> RpcResult<proto::BatchGetResponse> {
        let keys = request.into_inner().keys;
        let result = self.store.batch_get(&keys).await;
        reply(result, |reads| proto::BatchGetResponse {
            lookups: keys
                .into_iter()
                .zip(reads)
                .map(|(key, read)| read_message(key, read))
                .collect(),
        })
    }

    async fn put(&self, request: Request<proto::PutRequest>) -> RpcResult<proto::WriteResponse> {
        let request = request.into_inner();
        let result = self
            .store
            .put(
                &request.key,
                &request.value,
                precondition(request.precondition),
            )
            .await;
        reply(result, |version| proto::WriteResponse {
            version: version.0,
        })
    }

    async fn delete(
        &self,
        request: Request<proto::DeleteRequest>,
    ) -> RpcResult<proto::WriteResponse> {
        let request = request.into_inner();
        let result = self
            .store
            .delete(&request.key, precondition(request.precondition))
            .await;
        reply(result, |version| proto::WriteResponse {
            version: version.0,
        })
    }

    async fn batch_put(
        &self,
        request: Request<proto::BatchPutRequest>,
    ) -> RpcResult<proto::BatchPutResponse> {
        let items: Vec<(Vec<u8>, Vec<u8>)> = request
            .into_inner()
            .items
            .into_iter()
            .map(|item| (item.key, item.value))
            .collect();
        let result = self.store.batch_put(&items).await;
        reply(result, |versions| proto::BatchPutResponse {
            versions: versions.into_iter().map(|v| v.0).collect(),
        })
    }

    async fn scan(&self, request: Request<proto::ScanRequest>) -> RpcResult<proto::ScanResponse> {
        let request = request.into_inner();
        let cursor = (!request.cursor.is_empty()).then_some(request.cursor.as_slice());
        let result = self
            .store
            .scan(&request.prefix, cursor, request.limit as usize)
            .await;
        reply(result, |page| proto::ScanResponse {
            objects: page
                .objects
                .into_iter()
                .map(|o| proto::Object {
                    key: o.key,
                    value: o.value,
                    version: o.version.0,
                })
                .collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        })
    }

    async fn claim_unpublished(
        &self,
        request: Request<proto::ClaimUnpublishedRequest>,
    ) -> RpcResult<proto::ClaimUnpublishedResponse> {
        let r = request.into_inner();
        let result = self
            .store
            .claim_unpublished(
                Duration::from_millis(r.older_than_ms),
                Duration::from_millis(r.claim_ms),
                r.limit as usize,
            )
            .await;
        reply(result, |notices| proto::ClaimUnpublishedResponse {
            notices: notices
                .into_iter()
                .map(|notice| proto::PendingNotice {
                    key: notice.key,
                    version: notice.version.0,
                })
                .collect(),
        })
    }

    async fn confirm_published(
        &self,
        request: Request<proto::ConfirmPublishedRequest>,
    ) -> RpcResult<proto::ConfirmPublishedResponse> {
        let notices: Vec<PendingNotice> = request
            .into_inner()
            .notices
            .into_iter()
            .map(|notice| PendingNotice {
                key: notice.key,
                version: Version(notice.version),
            })
            .collect();
        let result = self.store.confirm_published(&notices).await;
        reply(result, |()| proto::ConfirmPublishedResponse {})
    }
}

#[tonic::async_trait]
impl registry_server::Registry for Services {
    async fn register(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> RpcResult<proto::Registration> {
        let r = request.into_inner();
        let result = self
            .store
            .register(&r.role, &r.id, &r.address, ttl(r.ttl_ms))
            .await;
        reply(result, registration)
    }

    async fn heartbeat(
        &self,
        request: Request<proto::HeartbeatRequest>,
    ) -> RpcResult<proto::Registration> {
        let r = request.into_inner();
        let result = self.store.heartbeat(&r.role, &r.id, ttl(r.ttl_ms)).await;
        reply(result, registration)
    }

    async fn deregister(
        &self,
        request: Request<proto::DeregisterRequest>,
    ) -> RpcResult<proto::DeregisterResponse> {
        let r = request.into_inner();
        let result = self.store.deregister(&r.role, &r.id).await;
        reply(result, |()| proto::DeregisterResponse {})
    }

    async fn lookup(
        &self,
        request: Request<proto::LookupRequest>,
    ) -> RpcResult<proto::LookupResponse> {
        let result = self.store.lookup(&request.into_inner().role).await;
        reply(result, |nodes| proto::LookupResponse {
            nodes: nodes.into_iter().map(registration).collect(),
        })
    }
}

#[tonic::async_trait]
impl admin_state_server::AdminState for Services {
    async fn acquire_lease(
        &self,
        request: Request<proto::AcquireLeaseRequest>,
    ) -> RpcResult<proto::Lease> {
        let r = request.into_inner();
        let result = self
            .store
            .acquire_lease(&r.name, &r.holder, ttl(r.ttl_ms))
            .await;
        reply(result, lease)
    }

    async fn renew_lease(
        &self,
        request: Request<proto::RenewLeaseRequest>,
    ) -> RpcResult<proto::Lease> {
        let r = request.into_inner();
        let result = self
            .store
            .renew_lease(&r.name, &r.holder, r.epoch, ttl(r.ttl_ms))
            .await;
        reply(result, lease)
    }

    async fn release_lease(
        &self,
        request: Request<proto::ReleaseLeaseRequest>,
    ) -> RpcResult<proto::ReleaseLeaseResponse> {
        let r = request.into_inner();
        let result = self.store.release_lease(&r.name, &r.holder, r.epoch).await;
        reply(result, |()| proto::ReleaseLeaseResponse {})
    }

    async fn read_state(
        &self,
        request: Request<proto::ReadStateRequest>,
    ) -> RpcResult<proto::StateEntry> {
        let r = request.into_inner();
        match self.store.read_state(&r.lease, &r.key).await {
            Ok(Some(entry)) => Ok(Response::new(state_entry(entry))),
            Ok(None) => Err(status_from_error(&StoreError::NotFound(format!(
                "no state entry {:?} under lease {:?}",
                r.key, r.lease
            )))),
            Err(error) => Err(status_from_error(&error)),
        }
    }

    async fn list_state(
        &self,
        request: Request<proto::ListStateRequest>,
    ) -> RpcResult<proto::ListStateResponse> {
        let result = self.store.list_state(&request.into_inner().lease).await;
        reply(result, |entries| proto::ListStateResponse {
            entries: entries.into_iter().map(state_entry).collect(),
        })
    }

    async fn write_state(
        &self,
        request: Request<proto::WriteStateRequest>,
    ) -> RpcResult<proto::WriteStateResponse> {
        let r = request.into_inner();
        let result = self
            .store
            .write_state(&r.lease, &r.key, &r.value, r.epoch)
            .await;
        reply(result, |()| proto::WriteStateResponse {})
    }
}

/// Settings of the gRPC server.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The store's limits; the message limits in both directions derive from them.
    pub limits: Limits,
    /// Where every call is counted (read by the store's `/metrics`).
    pub metrics: Arc<RpcMetrics>,
    /// How much load one server takes: calls at once, their time, dead connections.
    pub load: LoadLimits,
    /// Serve mutual TLS with this identity: a caller must present a certificate of its CA
    /// (none: plain HTTP/2).
    pub tls: Option<tiercache_tls::Identity>,
}

/// The default [`LoadLimits::call_timeout`]: the client's own call timeout.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`LoadLimits::max_concurrent_calls`].
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 1024;
/// The default [`LoadLimits::max_streams_per_connection`].
pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// How often an idle connection is pinged, and how long its answer may take, before the
/// connection is closed as dead (a peer gone without a FIN, a partition).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How much load the server takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadLimits {
    /// How long a call may take on the server; past it the caller gets `CANCELLED`
    /// ("Timeout expired") — a write may still have committed, as with any lost answer
    /// (default 30 s).
    pub call_timeout: Duration,
    /// Calls served at once over all connections; more wait for a turn, within their
    /// timeout (default 1 024). Keeps the database pool's queue bounded.
    pub max_concurrent_calls: usize,
    /// Calls one connection may have open at once (HTTP/2 `MAX_CONCURRENT_STREAMS`, default
    /// 256); a client's surplus calls wait on its side.
    pub max_streams_per_connection: u32,
}

impl Default for LoadLimits {
    fn default() -> LoadLimits {
        LoadLimits {
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            max_streams_per_connection: DEFAULT_MAX_STREAMS_PER_CONNECTION,
        }
    }
}

/// Serves `store` on a free loopback port, in a task of the current tokio runtime, until the
/// runtime ends; returns its address. For tests and benchmarks that want a store service
/// without a process of its own.
pub async fn serve_on_loopback(store: Arc<dyn Store>) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(serve(
        store,
        listener,
        ServeOptions::default(),
        std::future::pending(),
    ));
    Ok(address)
}

/// Serves the store's three services, health (`grpc.health.v1`) and reflection (v1 and
/// v1alpha) on `listener` until `shutdown` completes, then lets in-flight calls finish.
pub async fn serve(
    store: Arc<dyn Store>,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let max_message = options.limits.max_message_bytes();
    let services = Services { store };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<object_store_server::ObjectStoreServer<Services>>()
        .await;
    health_reporter
        .set_serving::<registry_server::RegistryServer<Services>>()
        .await;
    health_reporter
        .set_serving::<admin_state_server::AdminStateServer<Services>>()
        .await;
    let (reflection_v1, reflection_v1alpha) = reflection();
    // Requests are small and latency-bound: send each answer at once (no Nagle delay).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));

    let load = &options.load;
    let mut server = Server::builder();
    if let Some(identity) = &options.tls {
        server = server.tls_config(mutual_tls(identity)?)?;
    }
    server
        .timeout(load.call_timeout)
        .max_concurrent_streams(load.max_streams_per_connection)
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .layer(options.metrics.layer())
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            load.max_concurrent_calls,
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            object_store_server::ObjectStoreServer::new(services.clone())
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(
            registry_server::RegistryServer::new(services.clone())
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(
            admin_state_server::AdminStateServer::new(services)
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Mutual TLS for the store's callers: they must present a certificate of `identity`'s CA.
fn mutual_tls(
    identity: &tiercache_tls::Identity,
) -> Result<tonic::transport::ServerTlsConfig, tonic::transport::Error> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let (certificate, key) = identity
        .certificate_and_key_pem()
        .expect("a serving identity has a certificate (checked where the options are built)");
    Ok(ServerTlsConfig::new()
        .identity(Identity::from_pem(certificate, key))
        .client_ca_root(Certificate::from_pem(identity.ca_pem()))
        .timeout(tiercache_tls::DEFAULT_HANDSHAKE_TIMEOUT))
}

/// The reflection service in both versions clients speak: `grpc.reflection.v1` and the older
/// `v1alpha` (still all that older grpcurl, grpcui and Postman ask). Both describe the same
/// services — the store's three, health, and both reflection services — and nothing else
/// (the benchmark's echo service is in no descriptor set registered here).
fn reflection() -> (
    v1::ServerReflectionServer<impl v1::ServerReflection>,
    v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
) {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    const VALID: &str = "the descriptor sets are generated at build time and always valid";
    // Each version's builder adds its own descriptor; add the other's, so that either lists
    // both reflection services this server runs.
    let v1 = builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect(VALID);
    let v1alpha = builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect(VALID);
    (v1, v1alpha)
}
