//! A `tracing` subscriber made of one closure over each event: the tests'
//! careless or curious logging layers (one that panics, counts, or reads
//! the breaker back), without the span plumbing each would repeat.

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Calls its closure on every event; spans are accepted and ignored.
pub struct OnEvent<F>(pub F);

impl<F: Fn(&Event<'_>) + Send + Sync + 'static> Subscriber for OnEvent<F> {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        (self.0)(event)
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
