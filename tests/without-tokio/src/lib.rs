//! Nothing but its tests: `tests/ui` holds the compile-fail cases of the
//! attribute in a crate built without the runtime's `tokio` feature.
