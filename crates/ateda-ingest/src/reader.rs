//! The reader thread: sources in plan order, as members, into a bounded channel.

use ateda_decode::Limits;
use ateda_source::{Item, Plan, ReadOptions, SourceLimits};

use crate::counters::{add, Live};

/// Reads every file of `plan` (sorted, tarballs streamed) and sends its members on,
/// holding no member larger than the member cap. Stops early when the receiving side
/// is gone. The plan's bad directory entries (already warned) are counted here.
pub(crate) fn spawn_reader(
    plan: Plan,
    live: Live,
    limits: Limits,
    tx: crossbeam_channel::Sender<Item>,
) -> std::thread::JoinHandle<()> {
    add(&live.skipped_entries, plan.bad_entries.len() as u64);
    let opts = ReadOptions {
        progress: live.bytes.clone(),
        limits: SourceLimits {
            max_member_bytes: limits.max_member_bytes,
            keep_bytes: limits.keep_bytes,
        },
        counters: live.source.clone(),
    };
    std::thread::spawn(move || {
        ateda_source::read_plan(&plan, &opts, |item| tx.send(item).is_ok());
    })
}
