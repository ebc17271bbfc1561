//! [`StoreClient`]: the store's three services ([`ObjectStore`], [`Registry`],
//! [`AdminState`]) over gRPC.

use std::time::Duration;

use async_trait::async_trait;
use tiercache_core::Version;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use super::proto::{
    self, admin_state_client::AdminStateClient, object_store_client::ObjectStoreClient,
    registry_client::RegistryClient,
};
use super::{TOMBSTONE_VERSION_HEADER, error_from_status};
use crate::admin_state::{AdminState, Lease, StateEntry};
use crate::error::{StoreError, StoreResult};
use crate::limits::Limits;
use crate::object_store::{Object, ObjectRead, ObjectStore, PendingNotice, Precondition, ScanPage};
use crate::registry::{Registration, Registry};

/// A client of a running store service. Cheap to clone: clones share one HTTP/2 connection,
/// which reconnects by itself after the server restarts.
///
/// It checks keys and values against its [`Limits`] before sending, so an oversized request
/// fails with `TooLarge` without a round trip (the server checks again).
#[derive(Debug, Clone)]
pub struct StoreClient {
    objects: ObjectStoreClient<Channel>,
    registry: RegistryClient<Channel>,
    admin: AdminStateClient<Channel>,
    limits: Limits,
}

/// How long connecting may take before the call fails with `Unavailable`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl StoreClient {
    /// Connects to the store at `address` (`host:port`, `http://host:port`, or
    /// `https://host:port` for mutual TLS with this process's identity, see
    /// [`tiercache_tls::process`]), failing with `Unavailable` when nothing answers there.
    pub async fn connect(address: &str, limits: Limits) -> StoreResult<StoreClient> {
        StoreClient::connect_as(address, limits, None).await
    }

    /// [`StoreClient::connect`] presenting `identity` (instead of the process's) when
    /// `address` is `https://`.
    pub async fn connect_as(
        address: &str,
        limits: Limits,
        identity: Option<&tiercache_tls::Identity>,
    ) -> StoreResult<StoreClient> {
        let endpoint = endpoint(address, identity)?;
        let channel = endpoint.connect().await.map_err(|error| {
            StoreError::Unavailable(format!(
                "cannot reach the store at {address}: {}",
                with_causes(&error)
            ))
        })?;
        Ok(StoreClient::with_channel(channel, limits))
    }

    /// A client that connects on its first call (and again whenever the connection drops).
    pub fn connect_lazy(address: &str, limits: Limits) -> StoreResult<StoreClient> {
        Ok(StoreClient::with_channel(
            endpoint(address, None)?.connect_lazy(),
            limits,
        ))
    }

    fn with_channel(channel: Channel, limits: Limits) -> StoreClient {
        let max = limits.max_message_bytes();
        StoreClient {
            objects: ObjectStoreClient::new(channel.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            registry: RegistryClient::new(channel.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            admin: AdminStateClient::new(channel)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            limits,
        }
    }
}

fn endpoint(address: &str, identity: Option<&tiercache_tls::Identity>) -> StoreResult<Endpoint> {
    let uri = if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|error| StoreError::invalid(format!("bad store address {address:?}: {error}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .tcp_nodelay(true);
    if !address.starts_with("https://") {
        return Ok(endpoint);
    }
    let identity = match identity {
        Some(identity) => identity,
        None => tiercache_tls::process::identity_for(address).map_err(StoreError::invalid)?,
    };
    endpoint
        .tls_config(client_tls(identity))
        .map_err(|error| StoreError::invalid(format!("TLS for {address}: {error}")))
}

/// TLS trusting only `identity`'s CA, presenting its certificate when it has one.
fn client_tls(identity: &tiercache_tls::Identity) -> tonic::transport::ClientTlsConfig {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(identity.ca_pem()));
    match identity.certificate_and_key_pem() {
        Some((certificate, key)) => tls.identity(Identity::from_pem(certificate, key)),
        None => tls,
    }
}

/// `error` and its causes, `: `-separated (tonic's transport error alone says only
/// "transport error"; the cause says "connection refused" or which certificate was refused).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn precondition(precondition: Precondition) -> Option<proto::Precondition> {
    use proto::precondition::Condition;
    let condition = match precondition {
        Precondition::None => return None,
        Precondition::Version(version) => Condition::Version(version.0),
        Precondition::Absent => Condition::Absent(true),
    };
    Some(proto::Precondition {
        condition: Some(condition),
    })
}

fn registration(r: proto::Registration) -> Registration {
    Registration {
        role: r.role,
        id: r.id,
        address: r.address,
        expires_at_ms: r.expires_at_ms,
    }
}

fn lease(l: proto::Lease) -> Lease {
    Lease {
        name: l.name,
        holder: l.holder,
        epoch: l.epoch,
        expires_at_ms: l.expires_at_ms,
    }
}

fn state_entry(e: proto::StateEntry) -> StateEntry {
    StateEntry {
        key: e.key,
        value: e.value,
        epoch: e.epoch,
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

/// Unwraps an answer or turns its status into the store error it carries.
fn answer<T>(result: Result<tonic::Response<T>, tonic::Status>) -> StoreResult<T> {
    result
        .map(tonic::Response::into_inner)
        .map_err(|status| error_from_status(&status))
}

#[async_trait]
impl ObjectStore for StoreClient {
    async fn get(&self, key: &[u8]) -> StoreResult<ObjectRead> {
        self.limits.check_key(key)?;
        let request = proto::GetRequest { key: key.to_vec() };
        match self.objects.clone().get(request).await {
            Ok(response) => {
                let object = response.into_inner();
                Ok(ObjectRead::Live {
                    value: object.value,
                    version: Version(object.version),
                })
            }
            Err(status) if status.code() == Code::NotFound => {
                let tombstone = status
                    .metadata()
                    .get(TOMBSTONE_VERSION_HEADER)
                    .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
                Ok(match tombstone {
                    Some(version) => ObjectRead::Deleted {
                        version: Version(version),
                    },
                    None => ObjectRead::Absent,
                })
            }
            Err(status) => Err(error_from_status(&status)),
        }
    }

    async fn batch_get(&self, keys: &[Vec<u8>]) -> StoreResult<Vec<ObjectRead>> {
        self.limits.check_batch(keys.len())?;
        for key in keys {
            self.limits.check_key(key)?;
        }
        let request = proto::BatchGetRequest {
            keys: keys.to_vec(),
        };
        let response = answer(self.objects.clone().batch_get(request).await)?;
        use proto::lookup::State;
        Ok(response
            .lookups
            .into_iter()
            .map(|read| match State::try_from(read.state) {
                Ok(State::Live) => ObjectRead::Live {
                    value: read.value,
                    version: Version(read.version),
                },
                Ok(State::Deleted) => ObjectRead::Deleted {
                    version: Version(read.version),
                },
                Ok(State::Absent) | Err(_) => ObjectRead::Absent,
            })
            .collect())
    }

    async fn put(&self, key: &[u8], value: &[u8], condition: Precondition) -> StoreResult<Version> {
        self.limits.check_key(key)?;
        self.limits.check_value(value)?;
        let request = proto::PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            precondition: precondition(condition),
        };
        Ok(Version(
            answer(self.objects.clone().put(request).await)?.version,
        ))
    }

    async fn delete(&self, key: &[u8], condition: Precondition) -> StoreResult<Version> {
        self.limits.check_key(key)?;
        let request = proto::DeleteRequest {
            key: key.to_vec(),
            precondition: precondition(condition),
        };
        Ok(Version(
            answer(self.objects.clone().delete(request).await)?.version,
        ))
    }

    async fn batch_put(&self, items: &[(Vec<u8>, Vec<u8>)]) -> StoreResult<Vec<Version>> {
        self.limits.check_batch(items.len())?;
        for (key, value) in items {
            self.limits.check_key(key)?;
            self.limits.check_value(value)?;
        }
        let request = proto::BatchPutRequest {
            items: items
                .iter()
                .map(|(key, value)| proto::KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        };
        let response = answer(self.objects.clone().batch_put(request).await)?;
        if response.versions.len() != items.len() {
            return Err(StoreError::Internal(format!(
                "the store answered {} versions for {} items",
                response.versions.len(),
                items.len()
            )));
        }
        Ok(response.versions.into_iter().map(Version).collect())
    }

    async fn scan(
        &self,
        prefix: &[u8],
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> StoreResult<ScanPage> {
        let request = proto::ScanRequest {
            prefix: prefix.to_vec(),
            cursor: cursor.unwrap_or_default().to_vec(),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        };
        let response = answer(self.objects.clone().scan(request).await)?;
        Ok(ScanPage {
            objects: response
                .objects
                .into_iter()
                .map(|o| Object {
                    key: o.key,
                    value: o.value,
                    version: Version(o.version),
                })
                .collect(),
            next_cursor: (!response.next_cursor.is_empty()).then_some(response.next_cursor),
        })
    }

    async fn claim_unpublished(
        &self,
        older_than: Duration,
        claim_for: Duration,
        limit: usize,
    ) -> StoreResult<Vec<PendingNotice>> {
        let request = proto::ClaimUnpublishedRequest {
            older_than_ms: u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX),
            claim_ms: u64::try_from(claim_for.as_millis()).unwrap_or(u64::MAX),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        };
        let response = answer(self.objects.clone().claim_unpublished(request).await)?;
        Ok(response
            .notices
            .into_iter()
            .map(|notice| PendingNotice {
                key: notice.key,
                version: Version(notice.version),
            })
            .collect())
    }

    async fn confirm_published(&self, notices: &[PendingNotice]) -> StoreResult<()> {
        let request = proto::ConfirmPublishedRequest {
            notices: notices
                .iter()
                .map(|notice| proto::PendingNotice {
                    key: notice.key.clone(),
                    version: notice.version.0,
                })
                .collect(),
        };
        answer(self.objects.clone().confirm_published(request).await)?;
        Ok(())
    }
}

#[async_trait]
impl Registry for StoreClient {
    async fn register(
        &self,
        role: &str,
        id: &str,
        address: &str,
        ttl: Duration,
    ) -> StoreResult<Registration> {
        let request = proto::RegisterRequest {
            role: role.to_owned(),
            id: id.to_owned(),
            address: address.to_owned(),
            ttl_ms: ttl_ms(ttl),
        };
        answer(self.registry.clone().register(request).await).map(registration)
    }

    async fn heartbeat(&self, role: &str, id: &str, ttl: Duration) -> StoreResult<Registration> {
        let request = proto::HeartbeatRequest {
            role: role.to_owned(),
            id: id.to_owned(),
            ttl_ms: ttl_ms(ttl),
        };
        answer(self.registry.clone().heartbeat(request).await).map(registration)
    }

    async fn deregister(&self, role: &str, id: &str) -> StoreResult<()> {
        let request = proto::DeregisterRequest {
            role: role.to_owned(),
            id: id.to_owned(),
        };
        answer(self.registry.clone().deregister(request).await).map(drop)
    }

    async fn lookup(&self, role: &str) -> StoreResult<Vec<Registration>> {
        let request = proto::LookupRequest {
            role: role.to_owned(),
        };
        let response = answer(self.registry.clone().lookup(request).await)?;
        Ok(response.nodes.into_iter().map(registration).collect())
    }
}

#[async_trait]
impl AdminState for StoreClient {
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Lease> {
        let request = proto::AcquireLeaseRequest {
            name: name.to_owned(),
            holder: holder.to_owned(),
            ttl_ms: ttl_ms(ttl),
        };
        answer(self.admin.clone().acquire_lease(request).await).map(lease)
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        ttl: Duration,
    ) -> StoreResult<Lease> {
        let request = proto::RenewLeaseRequest {
            name: name.to_owned(),
            holder: holder.to_owned(),
            epoch,
            ttl_ms: ttl_ms(ttl),
        };
        answer(self.admin.clone().renew_lease(request).await).map(lease)
    }

    async fn release_lease(&self, name: &str, holder: &str, epoch: u64) -> StoreResult<()> {
        let request = proto::ReleaseLeaseRequest {
            name: name.to_owned(),
            holder: holder.to_owned(),
            epoch,
        };
        answer(self.admin.clone().release_lease(request).await).map(drop)
    }

    async fn read_state(&self, lease: &str, key: &str) -> StoreResult<Option<StateEntry>> {
        let request = proto::ReadStateRequest {
            lease: lease.to_owned(),
            key: key.to_owned(),
        };
        match self.admin.clone().read_state(request).await {
            Ok(response) => Ok(Some(state_entry(response.into_inner()))),
            Err(status) => match error_from_status(&status) {
                StoreError::NotFound(_) => Ok(None),
                error => Err(error),
            },
        }
    }

    async fn list_state(&self, lease: &str) -> StoreResult<Vec<StateEntry>> {
        let request = proto::ListStateRequest {
            lease: lease.to_owned(),
        };
        let response = answer(self.admin.clone().list_state(request).await)?;
        Ok(response.entries.into_iter().map(state_entry).collect())
    }

    async fn write_state(
        &self,
        lease: &str,
        key: &str,
        value: &[u8],
        epoch: u64,
    ) -> StoreResult<()> {
        self.limits.check_value(value)?;
        let request = proto::WriteStateRequest {
            lease: lease.to_owned(),
            key: key.to_owned(),
            value: value.to_vec(),
            epoch,
        };
        answer(self.admin.clone().write_state(request).await).map(drop)
    }
}
