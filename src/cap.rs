//! A server's cap as one count its worker processes share: `c1m serve
//! --max-conns N` over several workers holds at most N connections *in
//! all*, however unevenly `SO_REUSEPORT` hashes connections over them,
//! and refuses one only when the server as a whole holds N.
//!
//! The count lives in counters every worker maps (`c1m_sys::shm`, a
//! sealed memfd passed at spawn): word [`TOTAL`] is what the server holds,
//! word `1 + slot` what worker `slot` holds. A worker takes a place with
//! [`take`] before it keeps an accepted connection, and gives it back
//! with [`give_back`] when the connection ends; the supervisor takes a
//! dead worker's places off the total with [`release`] (the kernel closed
//! its connections when it died).
//!
//! **Exact.** [`take`] raises the total by compare-and-swap only from a
//! value below the cap, so the total never passes it, and a take fails
//! only when, at that instant, the total *is* the cap: never because
//! another worker's attempt was under way (an add-then-undo would refuse
//! one at the cap − 1 while a refused peer's add is in).
//!
//! **A dead worker's places come back.** A worker's own word is
//! exactly what it holds, except between its two updates: it is changed
//! after the total's rise and before its fall, so a worker killed in
//! that window leaves one place counted that no one holds (the server
//! then refuses one connection early; it never holds one past the cap).
//!
//! Pure over `&[AtomicU64]`: the unit tests run threads on plain atomics.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;

/// The word that holds the server's total.
pub const TOTAL: usize = 0;

/// How many words a cap shared by `members` workers needs: the total,
/// then one per worker.
pub fn words(members: usize) -> usize {
    members + 1
}

/// Worker `slot` takes one place under `max`: true when the server held
/// fewer than `max` at that instant and now holds one more (counted in
/// the total and in the worker's own word); false, nothing changed, when
/// it held `max` already.
///
/// Panics if `counters` has no word for `slot` (the worker checks
/// `slot < members` and the mapping's size once, at start).
pub fn take(counters: &[AtomicU64], slot: usize, max: u64) -> bool {
    let taken = counters[TOTAL].fetch_update(SeqCst, SeqCst, |t| (t < max).then_some(t + 1));
    if taken.is_err() {
        return false;
    }
    counters[1 + slot].fetch_add(1, SeqCst);
    true
}

/// Worker `slot` gives back one place it took: its own word first, then
/// the total (the order that leaves a place counted, never one too few,
/// if the worker dies between the two). Neither goes below 0.
pub fn give_back(counters: &[AtomicU64], slot: usize) {
    let down = |n: u64| Some(n.saturating_sub(1));
    let _ = counters[1 + slot].fetch_update(SeqCst, SeqCst, down);
    let _ = counters[TOTAL].fetch_update(SeqCst, SeqCst, down);
}

/// Takes what worker `slot` held off the total and sets its word to 0:
/// for a worker that is gone (its connections closed with it); returns
/// what it held. `None` for a slot with no word.
pub fn release(counters: &[AtomicU64], slot: usize) -> Option<u64> {
    let held = counters.get(1 + slot)?.swap(0, SeqCst);
    let _ = counters[TOTAL].fetch_update(SeqCst, SeqCst, |t| Some(t.saturating_sub(held)));
    Some(held)
}

/// What the server holds now, all workers together.
pub fn total(counters: &[AtomicU64]) -> u64 {
    counters[TOTAL].load(SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(members: usize) -> Vec<AtomicU64> {
        (0..words(members)).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn places_up_to_the_cap_then_none() {
        let c = fresh(2);
        assert!(take(&c, 0, 3));
        assert!(take(&c, 1, 3));
        assert!(take(&c, 1, 3));
        assert!(!take(&c, 0, 3), "the server holds 3 of 3");
        assert_eq!((total(&c), c[1].load(SeqCst), c[2].load(SeqCst)), (3, 1, 2));
        give_back(&c, 1);
        assert!(take(&c, 0, 3), "one given back by another worker is free");
        assert_eq!((total(&c), c[1].load(SeqCst), c[2].load(SeqCst)), (3, 2, 1));
    }

    #[test]
    fn many_takers_at_once_get_exactly_the_cap() {
        let c = fresh(4);
        let max = 30_000;
        let got: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|slot| {
                    let c = &c;
                    s.spawn(move || (0..10_000).filter(|_| take(c, slot, max)).count() as u64)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(got.iter().sum::<u64>(), max, "{got:?}");
        assert_eq!(total(&c), max);
        for (slot, n) in got.iter().enumerate() {
            assert_eq!(c[1 + slot].load(SeqCst), *n);
        }
    }

    #[test]
    fn a_take_never_fails_while_the_others_hold_fewer_than_the_cap() {
        // Each thread holds at most one place at a time and the cap is
        // the number of threads: the total is below it whenever a thread
        // takes, so every take must succeed, however they interleave.
        let threads = 4;
        let c = fresh(threads);
        let refused: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|slot| {
                    let c = &c;
                    s.spawn(move || {
                        let mut refused = 0;
                        for _ in 0..50_000 {
                            if take(c, slot, threads as u64) {
                                give_back(c, slot);
                            } else {
                                refused += 1;
                            }
                        }
                        refused
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(refused, 0);
        assert_eq!(total(&c), 0);
    }

    #[test]
    fn a_dead_workers_places_are_released_once() {
        let c = fresh(3);
        for _ in 0..5 {
            assert!(take(&c, 1, 100));
        }
        assert!(take(&c, 2, 100));
        assert_eq!(release(&c, 1), Some(5));
        assert_eq!(total(&c), 1, "worker 2's place stays");
        assert_eq!(release(&c, 1), Some(0), "a second release takes nothing");
        assert_eq!(total(&c), 1);
        assert_eq!(release(&c, 7), None);
    }

    #[test]
    fn nothing_goes_below_zero() {
        let c = fresh(1);
        give_back(&c, 0);
        assert_eq!((total(&c), c[1].load(SeqCst)), (0, 0));
        assert!(take(&c, 0, 1));
    }
}
