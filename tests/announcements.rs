//! One breaker's transitions reach its listeners in the order they were
//! made, whichever threads made them.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, State};

/// How long a test waits for the other thread before giving up (a bound on
/// a hang, not a timing the test relies on).
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn a_trip_announced_while_another_thread_resets_is_heard_before_the_reset() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let (reset_done_tx, reset_done_rx) = mpsc::channel::<()>();
    let (tripping_tx, tripping_rx) = mpsc::channel::<()>();
    let reset_done_rx = Mutex::new(reset_done_rx);
    let tripping_tx = Mutex::new(tripping_tx);
    let sink = Arc::clone(&heard);
    let cb = Arc::new(
        CircuitBreaker::new(
            "ordered",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| {
                    if change.to == State::Open {
                        // Hold the trip's announcement until the other
                        // thread's reset has returned.
                        tripping_tx.lock().unwrap().send(()).unwrap();
                        let _ = reset_done_rx.lock().unwrap().recv_timeout(PATIENCE);
                    }
                    sink.lock().unwrap().push((change.from, change.to));
                }),
        )
        .unwrap(),
    );
    let tripper = {
        let cb = Arc::clone(&cb);
        thread::spawn(move || cb.call(|| Err::<(), _>("down")).unwrap_err())
    };
    tripping_rx
        .recv_timeout(PATIENCE)
        .expect("the trip is announced");
    cb.reset();
    reset_done_tx.send(()).unwrap();
    tripper.join().unwrap();

    assert_eq!(cb.state(), State::Closed);
    let heard = heard.lock().unwrap();
    assert_eq!(
        *heard,
        vec![(State::Closed, State::Open), (State::Open, State::Closed)],
        "the listener's last event must be the breaker's state"
    );
}

#[test]
fn a_listener_that_makes_a_transition_hears_it_after_its_own() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    let cb: Arc<CircuitBreaker> = Arc::new_cyclic(|weak: &std::sync::Weak<CircuitBreaker>| {
        let weak = weak.clone();
        CircuitBreaker::new(
            "re-entrant",
            Config::default()
                .max_failures(1)
                .clock(ManualClock::new())
                .on_state_change(move |change| {
                    sink.lock().unwrap().push((change.from, change.to));
                    if change.to == State::Open {
                        if let Some(cb) = weak.upgrade() {
                            cb.reset();
                        }
                    }
                }),
        )
        .unwrap()
    });
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        *heard.lock().unwrap(),
        vec![(State::Closed, State::Open), (State::Open, State::Closed)]
    );
}
