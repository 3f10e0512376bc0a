//! Taking a `std::sync::Mutex` that a panicking thread may have poisoned. Every mutex in this
//! workspace guards state that stays consistent between statements (maps, counters, caches
//! with no multi-step invariants), so the data is used as it is rather than panicking in turn.
//! The one helper every crate uses for it; must not grow into a utilities module.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the data over if a panicking holder poisoned it.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
