//! The consume-only floor of `ateda stream` (scripts/bench/stream.py): the same librdkafka
//! consumer settings (at the default member cap of 16 MiB), polling a topic and doing
//! nothing with the messages.
//!
//! ```text
//! cargo run --release -p ateda-stream --example kafka_floor -- BROKERS TOPIC N [KEY=VALUE..]
//! ```
//!
//! Reads N messages from the earliest offsets as a fresh group and prints one JSON line:
//! messages, bytes, seconds from the start and from the first message to the last, and the
//! process' user and system CPU seconds.

use std::time::{Duration, Instant};

use ateda_stream::{KafkaOptions, StartFrom};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

fn cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: kafka_floor BROKERS TOPIC N [KEY=VALUE..]");
        std::process::exit(2);
    }
    let n: u64 = args[2].parse().expect("N: a number");
    let opts = KafkaOptions {
        brokers: args[0].clone(),
        topics: vec![args[1].clone()],
        topic_pattern: None,
        group: format!("kafka-floor-{}", std::process::id()),
        from: StartFrom::Earliest,
        instance_id: None,
        extra: args[3..]
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let consumer: BaseConsumer = opts
        .consumer_config(16 << 20)
        .create()
        .expect("creating the consumer");
    consumer.subscribe(&[&args[1]]).expect("subscribing");
    let started = Instant::now();
    let (mut first, mut messages, mut bytes) = (None, 0u64, 0u64);
    while messages < n {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                messages += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(e)) => eprintln!("{e}"),
            None if started.elapsed() > Duration::from_secs(120) => break,
            None => {}
        }
    }
    let steady = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let (user, sys) = cpu();
    println!(
        "{{\"messages\":{messages},\"bytes\":{bytes},\"seconds\":{:.3},\"steady_seconds\":{steady:.3},\"user_s\":{user:.2},\"sys_s\":{sys:.2}}}",
        started.elapsed().as_secs_f64()
    );
}
