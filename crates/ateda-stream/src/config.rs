//! The consumer's settings: what to read (topics or a pattern), as which group, from
//! where when nothing is recorded, and the librdkafka configuration that makes the
//! exactly-once design hold (no automatic offset commits, bounded prefetch).

use rdkafka::ClientConfig;

/// Where a partition with no recorded position (in the tables or the group) starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The oldest message the broker keeps.
    #[default]
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

impl std::str::FromStr for StartFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<StartFrom, String> {
        match s {
            "earliest" => Ok(StartFrom::Earliest),
            "latest" => Ok(StartFrom::Latest),
            other => Err(format!("--from {other:?}: expected earliest or latest")),
        }
    }
}

/// The Kafka side of a stream.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Bootstrap brokers, `HOST:PORT[,HOST:PORT..]`.
    pub brokers: String,
    /// Topics to read.
    pub topics: Vec<String>,
    /// Or a regular expression naming them (new matching topics are picked up).
    pub topic_pattern: Option<String>,
    /// Consumer group: partitions are split between the members of one group, and the
    /// tables record the group's positions (`ateda.kafka-offsets.<group>`).
    pub group: String,
    /// Start of partitions with no recorded position.
    pub from: StartFrom,
    /// Static membership (`group.instance.id`, e.g. the pod name): a restarted member
    /// takes its partitions back at once instead of after the session timeout.
    pub instance_id: Option<String>,
    /// Further librdkafka settings (`security.protocol`, `sasl.*`, ...), applied last.
    pub extra: Vec<(String, String)>,
}

impl KafkaOptions {
    /// What to subscribe to: the topics, or the pattern in librdkafka's form (`^` + RE).
    pub fn subscription(&self) -> Result<Vec<String>, String> {
        match (&self.topic_pattern, self.topics.is_empty()) {
            (Some(_), false) => Err("give --topic or --topic-pattern, not both".into()),
            (Some(re), true) => Ok(vec![if re.starts_with('^') {
                re.clone()
            } else {
                format!("^{re}")
            }]),
            (None, false) => Ok(self.topics.clone()),
            (None, true) => {
                Err("no topic: give --topic T (repeatable) or --topic-pattern RE".into())
            }
        }
    }

    /// The consumer's configuration. `max_message` is the member cap: larger messages
    /// are still fetched (and quarantined whole-hashed), never allowed to stall a
    /// partition.
    pub fn consumer_config(&self, max_message: u64) -> ClientConfig {
        let mut c = ClientConfig::new();
        let fetch = max_message.clamp(1 << 20, 1 << 30).to_string();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("client.id", "ateda-stream")
            // positions live in the tables; the group's offsets are committed by hand
            // after each table commit, for lag monitoring only
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match self.from {
                    StartFrom::Earliest => "earliest",
                    StartFrom::Latest => "latest",
                },
            )
            // a crashed member's partitions move on within seconds, not 45 s
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // a commit stalled by a catalog outage must not cost the membership
            .set("max.poll.interval.ms", "900000")
            .set("statistics.interval.ms", "5000")
            .set("max.partition.fetch.bytes", &fetch)
            .set("fetch.max.bytes", &fetch)
            // prefetched messages held by librdkafka: bounded
            .set("queued.max.messages.kbytes", "65536")
            // once that bound is reached, fetch again as soon as there is room: at the
            // default (1 s) a pipeline draining the 64 MiB faster than that waits on
            // empty polls (issue 16: 20,000 ZTF alerts, 3.3 s of a 8.8 s read idle)
            .set("fetch.queue.backoff.ms", "10")
            .set("topic.metadata.refresh.interval.ms", "30000");
        if let Some(id) = &self.instance_id {
            c.set("group.instance.id", id);
        }
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> KafkaOptions {
        KafkaOptions {
            brokers: "127.0.0.1:9092".into(),
            topics: vec![],
            topic_pattern: None,
            group: "ateda".into(),
            from: StartFrom::Earliest,
            instance_id: None,
            extra: vec![],
        }
    }

    #[test]
    fn topics_or_a_pattern_not_both_nor_neither() {
        let mut o = opts();
        assert!(o.subscription().unwrap_err().contains("no topic"));
        o.topic_pattern = Some("ztf_2026.*".into());
        assert_eq!(o.subscription().unwrap(), vec!["^ztf_2026.*".to_string()]);
        o.topics = vec!["t".into()];
        assert!(o.subscription().unwrap_err().contains("not both"));
        o.topic_pattern = None;
        assert_eq!(o.subscription().unwrap(), vec!["t".to_string()]);
        assert_eq!("latest".parse::<StartFrom>(), Ok(StartFrom::Latest));
        assert!("newest".parse::<StartFrom>().is_err());
    }

    #[test]
    fn offsets_are_never_committed_automatically_and_options_come_last() {
        let mut o = opts();
        o.instance_id = Some("ateda-stream-0".into());
        o.extra = vec![("session.timeout.ms".into(), "6000".into())];
        let c = o.consumer_config(16 << 20);
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("group.instance.id"), Some("ateda-stream-0"));
        assert_eq!(c.get("session.timeout.ms"), Some("6000"));
        assert_eq!(c.get("max.partition.fetch.bytes"), Some("16777216"));
        assert_eq!(c.get("fetch.queue.backoff.ms"), Some("10"));
    }
}
