//! Runs a check in a forked child, as a daemon that forks after using a
//! breaker does: the child inherits the parent's memory but none of its
//! threads.
#![allow(unsafe_code)]

extern "C" {
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn _exit(status: i32) -> !;
}

/// Forks; the child runs `check` and exits with its answer, the parent
/// waits for it and returns that answer.
pub fn in_forked_child(check: impl FnOnce() -> bool) -> bool {
    // SAFETY: the child runs only `check` and then exits.
    let pid = unsafe { fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let passed = check();
        // SAFETY: ends the child without running the test harness's exit
        // handlers.
        unsafe { _exit(if passed { 0 } else { 1 }) }
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child.
    let waited = unsafe { waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    status == 0
}
