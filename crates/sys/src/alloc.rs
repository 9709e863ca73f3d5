//! c1m's global allocator: the system's malloc, which also counts what
//! one layer of a worker holds (its WebSocket state), so the report can
//! split a connection's user memory by layer.
//!
//! A worker marks the code of that layer with [`enter`] (and the calls it
//! makes into the layers below with `enter(false)`); every allocation and
//! free made while it is marked moves [`held`] by the chunk's size as
//! glibc counts it in mallinfo2(3) (`malloc_usable_size` plus the 8-byte
//! chunk header), so the count adds up with
//! [`crate::process::heap_in_use`]. The mark is the thread's own (a
//! worker is single-threaded; the supervisor never sets it): another
//! thread's allocations are never counted. Unmarked, an allocation costs
//! a thread-local read more than malloc's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

thread_local! {
    // Const-initialized, no destructor: safe to read from the allocator,
    // at any point of the thread's life.
    static MARKED: Cell<bool> = const { Cell::new(false) };
}
static HELD: AtomicI64 = AtomicI64::new(0);

fn marked() -> bool {
    MARKED.try_with(Cell::get).unwrap_or(false)
}

/// The system's allocator, counting the marked layer's chunks.
pub struct Counting;

/// glibc's size of the chunk holding `p` (its usable size and header).
#[allow(unsafe_code)]
fn chunk(p: *mut u8) -> i64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `p` is a live allocation of glibc's malloc (System
        // allocates with malloc, calloc, realloc or posix_memalign, all of
        // which malloc_usable_size(3) accepts), not yet freed: it is read
        // before the free and after the allocation.
        (unsafe { libc::malloc_usable_size(p.cast()) } as i64) + 8
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = p;
        0
    }
}

fn count(p: *mut u8, sign: i64) {
    if !p.is_null() && marked() {
        HELD.fetch_add(sign * chunk(p), Relaxed);
    }
}

// SAFETY: every method hands the call to `System` unchanged and returns
// what it returned; the count only reads the size of a live chunk.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let p = unsafe { System.alloc(layout) };
        count(p, 1);
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        count(p, 1);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(ptr, -1);
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = if marked() { chunk(ptr) } else { 0 };
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && marked() {
            HELD.fetch_add(chunk(p) - before, Relaxed);
        }
        p
    }
}

/// While it lives, allocations count toward the marked layer (or not:
/// `enter(false)` for calls into the layers below it); dropped, the mark
/// is what it was.
pub struct Scope(bool);

/// Marks (or unmarks) what follows until the returned scope is dropped.
pub fn enter(mark: bool) -> Scope {
    Scope(MARKED.with(|m| m.replace(mark)))
}

impl Drop for Scope {
    fn drop(&mut self) {
        let _ = MARKED.try_with(|m| m.set(self.0));
    }
}

/// Bytes the marked layer holds now: its chunks allocated less those
/// freed (0 unless [`Counting`] is the process's global allocator).
pub fn held() -> i64 {
    HELD.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static A: Counting = Counting;

    #[test]
    fn only_the_marked_layer_is_counted_and_frees_take_it_back() {
        let _one = crate::TEST_HEAP.lock().unwrap_or_else(|e| e.into_inner());
        let base = held();
        let outside = vec![1u8; 4000];
        assert_eq!(held(), base, "unmarked: not counted");
        let kept = {
            let _s = enter(true);
            let v: Vec<Box<[u8; 100]>> = (0..100).map(|_| Box::new([1; 100])).collect();
            {
                let _s = enter(false);
                drop(vec![2u8; 5000]);
            }
            v
        };
        let grown = held() - base;
        // 100 chunks of 112 bytes (100 rounded up, and the header), and the
        // Vec of 100 pointers, as glibc sizes them; the unmarked 5,000 not.
        assert!((11_000..13_500).contains(&grown), "{grown}");
        {
            let _s = enter(true);
            drop(kept);
        }
        assert_eq!(held(), base, "freed in the layer: back to where it was");
        drop(outside);
    }
}
