//! Caps on hostile input: every size the input itself announces (member length,
//! inflated size, array lengths, block counts, distinct writer schemas) is bounded, so
//! memory stays bounded whatever the input. The defaults fit every real packet with a
//! wide margin (largest real ZTF packet ~1 MB, Rubin ~200 KB; real ZTF `prv_candidates`
//! hold at most a few thousand items); `ateda ingest` has a flag to raise each one.
//!
//! The caps of a run are installed once per process ([`install`]); a thread may
//! override them ([`with_limits`], for tests). Container parsing ([`crate::ocf`])
//! starts each member's budget of zero-width values ([`crate::resolve`] spends it).

use std::cell::Cell;
use std::sync::RwLock;

use crate::DecodeError;

/// One MiB.
const MIB: u64 = 1 << 20;

/// The caps (see `docs/bronze-contract.md`, "Caps on hostile input").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest member (tarball member or `.avro` file) read into memory; a larger one is
    /// quarantined (its first [`Limits::keep_bytes`] kept, the rest hashed and skipped).
    pub max_member_bytes: u64,
    /// Bytes of an oversized or unreadable source kept in quarantine.
    pub keep_bytes: u64,
    /// Total inflated size of one container's compressed (deflate) blocks.
    pub max_inflated_bytes: u64,
    /// Items of one array (or entries of one map) value.
    pub max_array_items: u64,
    /// Values of one member that take no input bytes (`null`-typed values, records and
    /// fields the writer lacks): the only values not already bounded by the input size.
    pub max_zero_width_values: u64,
    /// Data blocks in one container.
    pub max_blocks: u64,
    /// Distinct writer schemas kept resolved per decode worker (the cache is cleared
    /// when it is full).
    pub max_cached_schemas: usize,
}

impl Limits {
    /// The defaults.
    pub const DEFAULT: Limits = Limits {
        max_member_bytes: 16 * MIB,
        keep_bytes: 16 * MIB,
        max_inflated_bytes: 64 * MIB,
        max_array_items: 100_000,
        max_zero_width_values: 10_000_000,
        max_blocks: 100_000,
        max_cached_schemas: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

static INSTALLED: RwLock<Limits> = RwLock::new(Limits::DEFAULT);

thread_local! {
    static OVERRIDE: Cell<Option<Limits>> = const { Cell::new(None) };
    /// What the current member may still spend: (zero-width values, array items cap).
    static MEMBER: Cell<(u64, u64)> = const {
        Cell::new((Limits::DEFAULT.max_zero_width_values, Limits::DEFAULT.max_array_items))
    };
}

/// Installs the caps of this process's runs (the ingest does it at its start).
pub fn install(limits: &Limits) {
    match INSTALLED.write() {
        Ok(mut l) => *l = *limits,
        Err(poisoned) => *poisoned.into_inner() = *limits,
    }
}

/// The caps in force on this thread.
pub fn current() -> Limits {
    if let Some(l) = OVERRIDE.with(Cell::get) {
        return l;
    }
    match INSTALLED.read() {
        Ok(l) => *l,
        Err(poisoned) => *poisoned.into_inner(),
    }
}

/// Runs `f` with other caps on this thread (tests, tools).
pub fn with_limits<R>(limits: Limits, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Limits>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(limits))));
    f()
}

/// Starts a member: its budgets are reset from the caps in force.
pub(crate) fn begin_member(limits: &Limits) {
    MEMBER.with(|m| m.set((limits.max_zero_width_values, limits.max_array_items)));
}

/// Spends `n` zero-width values of the current member's budget.
#[inline]
pub(crate) fn spend_zero_width(n: u64) -> Result<(), DecodeError> {
    MEMBER.with(|m| {
        let (left, items) = m.get();
        match left.checked_sub(n) {
            Some(rest) => {
                m.set((rest, items));
                Ok(())
            }
            None => Err(DecodeError::Limit(format!(
                "more than {} values without input bytes (null-typed values, records, \
                 absent fields) in one member (--max-zero-width-values)",
                current().max_zero_width_values
            ))),
        }
    })
}

/// The current member's cap on items of one array or map.
#[inline]
pub(crate) fn array_items_cap() -> u64 {
    MEMBER.with(|m| m.get().1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_is_scoped_and_budget_resets_per_member() {
        let small = Limits {
            max_zero_width_values: 3,
            ..Limits::DEFAULT
        };
        with_limits(small, || {
            assert_eq!(current().max_zero_width_values, 3);
            begin_member(&current());
            assert!(spend_zero_width(2).is_ok());
            assert!(spend_zero_width(1).is_ok());
            let err = spend_zero_width(1).expect_err("over budget");
            assert!(err.to_string().contains("--max-zero-width-values"), "{err}");
            begin_member(&current());
            assert!(spend_zero_width(3).is_ok());
        });
        assert_eq!(current(), Limits::DEFAULT);
    }
}
