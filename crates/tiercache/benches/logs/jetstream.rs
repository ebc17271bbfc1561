//! NATS JetStream as a [`Target`]: a stream of 3 replicas on a 3-server cluster started by
//! [`NatsCluster`], published to with async-nats, each publish awaiting its PubAck.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, stream};
use tiercache_launch::NatsCluster;

use crate::runner::{Publisher, Target};

/// The stream the benchmark appends to.
pub const STREAM: &str = "BENCH";

/// How long the cluster may take to accept the stream and acknowledge a first message.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A JetStream cluster with the benchmark's stream: `BENCH` on `bench.>`, file storage, one
/// replica per server.
pub struct JetStream {
    /// The servers' client URLs, the stream's leader first.
    urls: Vec<String>,
    /// The stream leader's server name.
    pub leader: String,
}

impl JetStream {
    /// Creates the stream on `cluster` (retrying while the cluster refuses it, for instance
    /// while its meta leader has not heard of every server yet) and waits until a message
    /// published to it is acknowledged; bounded by 30 s.
    pub async fn prepare(cluster: &NatsCluster) -> anyhow::Result<JetStream> {
        let mut urls = cluster.urls();
        let context = jetstream::new(async_nats::connect(urls.as_slice()).await?);
        let config = stream::Config {
            name: STREAM.to_owned(),
            subjects: vec!["bench.>".to_owned()],
            storage: stream::StorageType::File,
            num_replicas: urls.len(),
            ..Default::default()
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let attempt = async {
                context.get_or_create_stream(config.clone()).await?;
                context
                    .publish("bench.ready", "ready".into())
                    .await?
                    .await?;
                anyhow::Ok(())
            };
            match attempt.await {
                Ok(()) => break,
                Err(error) if Instant::now() < deadline => {
                    eprintln!("JetStream not ready yet ({error:#}), retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => {
                    return Err(error.context(format!(
                        "stream {STREAM} with {} replicas not usable after {READY_TIMEOUT:?}",
                        urls.len()
                    )));
                }
            }
        }
        // Publishers connect from the leader on (see `publisher`): where a lone publisher
        // lands decides whether its messages take an extra hop, which would otherwise
        // depend on the election of each run.
        let mut stream = context.get_stream(STREAM).await?;
        let leader = stream
            .info()
            .await?
            .cluster
            .as_ref()
            .and_then(|cluster| cluster.leader.clone())
            .context("the stream has no leader")?;
        let at = cluster
            .servers()
            .iter()
            .position(|server| server.name() == leader)
            .with_context(|| format!("the leader {leader} is not one of the cluster's servers"))?;
        urls.rotate_left(at);
        Ok(JetStream { urls, leader })
    }
}

impl Target for JetStream {
    type Publisher = JetStreamPublisher;

    /// Publisher `index` connects to server `(leader + index) mod 3` (clients spread over
    /// the cluster; a lone one on the stream's leader, JetStream's best case), and the
    /// others forward their messages to the leader.
    async fn publisher(&self, index: usize) -> anyhow::Result<JetStreamPublisher> {
        let url = &self.urls[index % self.urls.len()];
        let client = async_nats::connect(url.as_str())
            .await
            .with_context(|| format!("connecting to {url}"))?;
        Ok(JetStreamPublisher {
            context: jetstream::new(client),
            subject: format!("bench.{index}"),
        })
    }
}

/// One connection publishing on `bench.INDEX`.
pub struct JetStreamPublisher {
    context: jetstream::Context,
    subject: String,
}

impl Publisher for JetStreamPublisher {
    /// Publishes, then awaits the PubAck (the client's default timeout: 5 s).
    async fn publish(&mut self, payload: Vec<u8>) -> anyhow::Result<()> {
        let ack = self
            .context
            .publish(self.subject.clone(), payload.into())
            .await?;
        ack.await?;
        Ok(())
    }
}
