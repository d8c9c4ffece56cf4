//! A clock that panics on demand, for the tests of how the breaker and the
//! registry contain a panicking `Clock`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breakerbox::{Clock, ManualClock};

/// A clock that panics while `broken` (counting the reads that panicked),
/// and otherwise reads `inner`. Clones share the switch.
#[derive(Debug, Clone)]
pub struct FaultyClock<C = ManualClock> {
    pub inner: C,
    broken: Arc<AtomicBool>,
    failed_reads: Arc<AtomicUsize>,
}

impl<C: Clock> FaultyClock<C> {
    pub fn new(inner: C) -> Self {
        FaultyClock {
            inner,
            broken: Arc::new(AtomicBool::new(false)),
            failed_reads: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn set_broken(&self, broken: bool) {
        self.broken.store(broken, Ordering::SeqCst);
    }

    pub fn failed_reads(&self) -> usize {
        self.failed_reads.load(Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for FaultyClock<C> {
    fn now(&self) -> Duration {
        if self.broken.load(Ordering::SeqCst) {
            self.failed_reads.fetch_add(1, Ordering::SeqCst);
            panic!("the clock broke");
        }
        self.inner.now()
    }
}
