//! The file feed: the sources of a plan in order, as members (tarballs streamed, never
//! extracted; no member larger than the member cap held).

use ateda_source::Plan;

use crate::counters::add;
use crate::feed::Feed;

/// Reads every file of `plan` (sorted, tarballs streamed) and hands its members on,
/// stopping early when the pipeline is gone. The plan's bad directory entries (already
/// warned) are counted here.
pub(crate) fn plan_feed(plan: Plan) -> Feed {
    Feed::items(move |out| {
        add(&out.live.skipped_entries, plan.bad_entries.len() as u64);
        let read = out.read.clone();
        ateda_source::read_plan(&plan, &read, |item| out.send(item));
    })
}
