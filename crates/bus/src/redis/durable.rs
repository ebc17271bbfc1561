//! Durable topics on any Redis command connection (a server's or a cluster's): a stream
//! per topic (`XADD`, `XRANGE`; offsets are the stream entry ids) and a hash of consumer
//! cursors moved forward only by a script. A topic's stream and cursors share its hash
//! tag, so the Cluster serves each from one shard. Records are as durable as the server's
//! persistence setting.

use bytes::Bytes;
use redis::Script;
use redis::aio::ConnectionLike;

use super::{keys, scripts};
use crate::error::{BusError, BusResult};
use crate::model::{Offset, Record};
use crate::topic::check_topic;

/// `XRANGE`'s answer: entries of (id, fields).
type StreamEntries = Vec<(String, Vec<(String, Vec<u8>)>)>;

/// The durable topics of one bus, over its command connection `C`.
#[derive(Clone)]
pub(super) struct DurableTopics<C> {
    /// The bus's command connection (cloned per call: the clones share it).
    commands: C,
    acknowledge: Script,
}

impl<C: ConnectionLike + Clone + Send + Sync> DurableTopics<C> {
    /// Durable topics served through `commands`.
    pub(super) fn new(commands: C) -> DurableTopics<C> {
        DurableTopics {
            commands,
            acknowledge: Script::new(scripts::ACKNOWLEDGE),
        }
    }

    /// `XADD` to the topic's stream.
    pub(super) async fn append(&self, topic: &str, payload: Bytes) -> BusResult<Offset> {
        check_topic(topic)?;
        let id: String = redis::cmd("XADD")
            .arg(keys::stream(topic))
            .arg("*")
            .arg("d")
            .arg(payload.as_ref())
            .query_async(&mut self.commands.clone())
            .await?;
        parse_offset(&id)
    }

    /// `XRANGE` after an offset.
    pub(super) async fn read(
        &self,
        topic: &str,
        after: Option<Offset>,
        max: usize,
    ) -> BusResult<Vec<Record>> {
        check_topic(topic)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let start = match after {
            Some(offset) => format!("({offset}"),
            None => "-".into(),
        };
        let entries: StreamEntries = redis::cmd("XRANGE")
            .arg(keys::stream(topic))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut self.commands.clone())
            .await?;
        entries
            .into_iter()
            .map(|(id, fields)| {
                let payload = fields
                    .into_iter()
                    .find(|(name, _)| name == "d")
                    .map(|(_, value)| Bytes::from(value))
                    .ok_or_else(|| BusError::Internal(format!("stream entry {id} has no data")))?;
                Ok(Record {
                    offset: parse_offset(&id)?,
                    payload,
                })
            })
            .collect()
    }

    /// Moves a consumer's cursor forward (never back).
    pub(super) async fn acknowledge(
        &self,
        topic: &str,
        consumer: &str,
        offset: Offset,
    ) -> BusResult<()> {
        check_topic(topic)?;
        let _: i64 = self
            .acknowledge
            .key(keys::cursors(topic))
            .arg(consumer)
            .arg(offset.major)
            .arg(offset.minor)
            .invoke_async(&mut self.commands.clone())
            .await?;
        Ok(())
    }

    /// A consumer's cursor.
    pub(super) async fn acknowledged(
        &self,
        topic: &str,
        consumer: &str,
    ) -> BusResult<Option<Offset>> {
        check_topic(topic)?;
        let held: Option<String> = redis::cmd("HGET")
            .arg(keys::cursors(topic))
            .arg(consumer)
            .query_async(&mut self.commands.clone())
            .await?;
        held.map(|id| parse_offset(&id)).transpose()
    }
}

/// A stream entry id (`ms-seq`) as an offset.
fn parse_offset(id: &str) -> BusResult<Offset> {
    id.parse()
        .map_err(|_| BusError::Internal(format!("Redis returned a stream id {id:?}")))
}
