//! The reader thread: sources in plan order, as members, into a bounded channel.

use ateda_source::{Item, Plan, Progress};

/// Reads every file of `plan` (sorted, tarballs streamed) and sends its members on.
/// Stops early when the receiving side is gone.
pub(crate) fn spawn_reader(
    plan: Plan,
    progress: Progress,
    tx: crossbeam_channel::Sender<Item>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        ateda_source::read_plan(&plan, &progress, |item| tx.send(item).is_ok());
    })
}
