//! The attribute's expansions work when the runtime is a renamed
//! dependency, and through a re-export named by `crate = "path"`.

use breakerbox_renamed_dependency::{through_a_re_export, through_the_renamed_dependency, DbError};

#[test]
fn a_function_in_a_crate_that_renamed_the_dependency_trips_and_rejects() {
    assert_eq!(through_the_renamed_dependency(false), Ok(1));
    assert_eq!(through_the_renamed_dependency(true), Err(DbError::Down));
    assert_eq!(through_the_renamed_dependency(true), Err(DbError::Down));
    assert_eq!(
        through_the_renamed_dependency(false),
        Err(DbError::Rejected)
    );
    let stats = breaker::registry()
        .get("renamed-dependency")
        .unwrap()
        .stats();
    assert_eq!(stats.state, breaker::State::Open);
}

#[test]
fn a_function_that_reaches_the_runtime_through_a_re_export_trips_and_rejects() {
    assert_eq!(block_on(through_a_re_export(true)), Err(DbError::Down));
    assert_eq!(block_on(through_a_re_export(true)), Err(DbError::Down));
    assert_eq!(block_on(through_a_re_export(false)), Err(DbError::Rejected));
    let stats = breaker::registry().get("re-exported").unwrap().stats();
    assert_eq!(stats.state, breaker::State::Open);
}

/// Runs a future that never waits to completion (the breaker's async path
/// without a call timeout never parks).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}
