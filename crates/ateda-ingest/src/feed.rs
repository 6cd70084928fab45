//! What feeds the pipeline: a function run on the reader thread that hands members to the
//! decode workers ([`FeedOut::send`]) and, for a stream, marks commit points
//! ([`FeedOut::commit_point`]): everything fed before a point is committed together,
//! one commit per table, carrying the stream's position in the same commit as the rows.
//!
//! A file ingest feeds items only (one queue all workers take from; the sink commits
//! every `commit_every` alerts and at the end). A stream feeds items and commit points:
//! then each worker has its own queue, a point reaches every worker after the items sent
//! before it, and the sink commits once every worker has handed on what it held.

use std::time::Duration;

use ateda_lakehouse::StreamOffsets;
use ateda_source::{Item, ReadOptions};
use crossbeam_channel::{Select, SendTimeoutError, Sender};

use crate::counters::Live;

/// What a decode worker is handed.
pub(crate) enum Work {
    /// A member (or an unreadable part) to decode.
    Item(Item),
    /// A commit point: hand on everything held, then a barrier.
    Flush,
}

/// A stream position recorded with the rows (see [`ateda_lakehouse::StreamOffsets`]).
#[derive(Debug, Clone)]
pub struct Position {
    /// The consumer group (the property is `ateda.kafka-offsets.<group>`).
    pub group: String,
    /// Next offset per topic partition, for every partition fed before the point.
    pub offsets: StreamOffsets,
}

/// Called on the sink once a commit point is committed in every table.
pub type OnCommitted = Box<dyn FnOnce() + Send>;

/// A commit point: everything fed before it is committed (rows, quarantine, ledger),
/// carrying `position` in each alerts table's commit.
pub struct CommitPoint {
    /// The position to record (none: a plain commit).
    pub position: Option<Position>,
    /// Run after the commit (e.g. the consumer group's offsets, latency metrics).
    pub done: Option<OnCommitted>,
}

/// How a [`Feed`] hands work on.
pub struct FeedOut {
    pub(crate) queues: Vec<Sender<Work>>,
    pub(crate) points: Option<tokio::sync::mpsc::UnboundedSender<CommitPoint>>,
    /// Options for reading sources with `ateda_source` (progress, member caps, counters
    /// of this run).
    pub read: ReadOptions,
    /// The run's live counters.
    pub live: Live,
}

/// The answer to [`FeedOut::offer`].
pub enum Offer {
    /// Handed on.
    Sent,
    /// Every queue stayed full for the wait: the item comes back.
    Full(Item),
    /// The pipeline is gone (failed or finished): stop feeding.
    Closed,
}

impl FeedOut {
    /// Hands an item on, waiting while the queues are full; false when the pipeline is
    /// gone (a failure stopped it): stop feeding.
    pub fn send(&mut self, item: Item) -> bool {
        let mut item = item;
        loop {
            match self.offer(item, Duration::from_secs(3600)) {
                Offer::Sent => return true,
                Offer::Closed => return false,
                Offer::Full(back) => item = back,
            }
        }
    }

    /// Hands an item to the first worker with room, waiting at most `wait` (a stream's
    /// reader keeps serving its consumer meanwhile).
    pub fn offer(&mut self, item: Item, wait: Duration) -> Offer {
        let work = Work::Item(item);
        if let [one] = self.queues.as_slice() {
            return match one.send_timeout(work, wait) {
                Ok(()) => Offer::Sent,
                Err(SendTimeoutError::Timeout(Work::Item(i))) => Offer::Full(i),
                Err(_) => Offer::Closed,
            };
        }
        let mut select = Select::new();
        for q in &self.queues {
            select.send(q);
        }
        match select.select_timeout(wait) {
            Ok(op) => {
                let i = op.index();
                match self.queues.get(i).map(|q| op.send(q, work)) {
                    Some(Ok(())) => Offer::Sent,
                    _ => Offer::Closed,
                }
            }
            Err(_) => match work {
                Work::Item(i) => Offer::Full(i),
                Work::Flush => Offer::Closed,
            },
        }
    }

    /// Marks a commit point after everything sent so far; false when the pipeline is
    /// gone, or when this feed was made with [`Feed::items`] (no commit points).
    pub fn commit_point(&mut self, point: CommitPoint) -> bool {
        let Some(points) = &self.points else {
            tracing::error!("a commit point in a feed made without commit points");
            return false;
        };
        if points.send(point).is_err() {
            return false;
        }
        self.queues.iter().all(|q| q.send(Work::Flush).is_ok())
    }
}

/// The function feeding a run, on the reader thread.
pub struct Feed {
    pub(crate) with_points: bool,
    pub(crate) run: Box<dyn FnOnce(&mut FeedOut) + Send>,
}

impl Feed {
    /// A feed of items only (files, tarballs, a download): the sink commits every
    /// `commit_every` alerts and at the end.
    pub fn items(run: impl FnOnce(&mut FeedOut) + Send + 'static) -> Feed {
        Feed {
            with_points: false,
            run: Box::new(run),
        }
    }

    /// A feed of items and commit points (a stream): the sink commits only at the
    /// points (and what follows the last one at the end).
    pub fn with_commit_points(run: impl FnOnce(&mut FeedOut) + Send + 'static) -> Feed {
        Feed {
            with_points: true,
            run: Box::new(run),
        }
    }
}
