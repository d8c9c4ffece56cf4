//! A one-shot rendezvous that a hook (a listener, a store's method) can
//! block on, so that a test forces an interleaving without sleeping.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a test waits for another thread before giving up: a bound on
/// a hang, not a timing the test relies on.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The hook's end: `entered` tells the test the hook is running, `release`
/// lets it go on.
pub struct Gate {
    entered: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

/// The test's end of a [`Gate`].
pub struct GateHandle {
    entered: Receiver<()>,
    release: Sender<()>,
}

pub fn gate() -> (Arc<Gate>, GateHandle) {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    (
        Arc::new(Gate {
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        }),
        GateHandle {
            entered: entered_rx,
            release: release_tx,
        },
    )
}

impl Gate {
    /// Called from the hook: signals, then waits for the release (or for
    /// the test's end of the gate to be dropped).
    pub fn hold(&self) {
        let _ = self.entered.lock().unwrap().send(());
        let _ = self.release.lock().unwrap().recv_timeout(PATIENCE);
    }
}

impl GateHandle {
    pub fn wait_entered(&self) {
        self.entered
            .recv_timeout(PATIENCE)
            .expect("the hook was entered");
    }

    pub fn release(&self) {
        let _ = self.release.send(());
    }
}
