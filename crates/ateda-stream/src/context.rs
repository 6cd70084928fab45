//! The consumer's context: on every assignment (start, rebalance) each partition is
//! sought to the position the tables record, not to the group's offset; librdkafka's
//! statistics give the lag per partition (the broker's ListOffsets is not trusted: the
//! stand-in broker answers it wrong).

use std::sync::{Arc, Mutex};

use ateda_lakehouse::Lakehouse;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Statistics};

use crate::resume::{recorded, resume_at};

/// The stream's consumer context.
pub(crate) struct StreamContext {
    /// Runs the table reads of the rebalance callback (called on the reader thread,
    /// which is not a runtime worker).
    pub handle: tokio::runtime::Handle,
    /// Each survey's tables.
    pub tables: Vec<Arc<Lakehouse>>,
    pub group: String,
    /// Set when an assignment could not be honoured: the session ends and starts again.
    pub failure: Mutex<Option<String>>,
    /// When partitions were last assigned (none yet: the group is still forming).
    pub assigned_at: Mutex<Option<std::time::Instant>>,
}

impl StreamContext {
    /// The failure that ends the session, if any.
    pub fn take_failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    fn fail(&self, why: String) {
        tracing::error!("{why}");
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(why);
        }
    }

    fn assign(&self, c: &BaseConsumer<StreamContext>, tpl: &mut TopicPartitionList) {
        let maps = match self.handle.block_on(recorded(&self.tables, &self.group)) {
            Ok(m) => m,
            Err(e) => {
                return self.fail(format!(
                    "assigned partitions, but the positions recorded in the tables cannot be \
                     read: {e}"
                ))
            }
        };
        let mut named = Vec::new();
        for el in tpl.elements() {
            let (topic, p) = (el.topic().to_string(), el.partition());
            named.push((topic, p, resume_at(&maps, el.topic(), p)));
        }
        for (topic, p, at) in &named {
            if let Some(o) = at {
                if let Err(e) = tpl.set_partition_offset(topic, *p, Offset::Offset(*o)) {
                    return self.fail(format!("seeking {topic}/{p} to {o}: {e}"));
                }
            }
            match at {
                Some(o) => tracing::info!(topic, partition = p, offset = o, "assigned: resuming at the position the tables record"),
                None => tracing::info!(topic, partition = p, "assigned: no position recorded in every table; resuming at the group's offset or --from"),
            }
        }
        let res = match c.rebalance_protocol() {
            RebalanceProtocol::Cooperative => c.incremental_assign(tpl),
            _ => c.assign(tpl),
        };
        if let Err(e) = res {
            return self.fail(format!("assigning partitions: {e}"));
        }
        if let Ok(mut at) = self.assigned_at.lock() {
            *at = Some(std::time::Instant::now());
        }
    }

    /// How long since partitions were last assigned (none: never in this session).
    pub fn since_assigned(&self) -> Option<std::time::Duration> {
        self.assigned_at
            .lock()
            .ok()
            .and_then(|at| at.map(|t| t.elapsed()))
    }
}

impl ClientContext for StreamContext {
    fn stats(&self, s: Statistics) {
        for (topic, t) in &s.topics {
            for (p, ps) in &t.partitions {
                if *p >= 0 && ps.consumer_lag >= 0 {
                    metrics::gauge!(
                        "ateda_stream_consumer_lag",
                        "topic" => topic.clone(),
                        "partition" => p.to_string()
                    )
                    .set(ps.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for StreamContext {
    fn rebalance(
        &self,
        c: &BaseConsumer<StreamContext>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(c, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let parts: Vec<String> = tpl
                    .elements()
                    .iter()
                    .map(|e| format!("{}/{}", e.topic(), e.partition()))
                    .collect();
                // What was read of them and not yet committed is committed at the next
                // point (positions merge to the larger; a new owner re-reading a message
                // finds its key stored).
                tracing::info!(partitions = ?parts, "revoked");
                let res = match c.rebalance_protocol() {
                    RebalanceProtocol::Cooperative => c.incremental_unassign(tpl),
                    _ => c.unassign(),
                };
                if let Err(e) = res {
                    self.fail(format!("giving up partitions: {e}"));
                }
            }
            e => tracing::warn!(error = ?e, "rebalance failed; the group coordinator retries"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::debug!(error = %e, "group offsets not committed (they are for lag monitoring only)");
        }
    }
}
