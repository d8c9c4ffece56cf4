//! Names that come from request data are printed with their control
//! characters escaped, so that they cannot forge log lines or rewrite a
//! terminal.

use breaker::{CircuitBreaker, Config, ManualClock};

const FORGER: &str = "x\n2099-01-01T00:00:00Z ERROR forged\u{1b}[2K\u{202e}";

fn assert_escaped(message: &str) {
    assert!(!message.contains('\n'), "a raw newline in {message:?}");
    assert!(!message.contains('\u{1b}'), "a raw escape in {message:?}");
    assert!(
        !message.contains('\u{202e}'),
        "a raw bidi override in {message:?}"
    );
    assert!(message.contains(r"x\n2099-01-01"), "{message}");
    assert!(message.contains(r"\u{1b}[2K"), "{message}");
}

#[test]
fn a_rejection_prints_a_hostile_name_escaped() {
    let cb = CircuitBreaker::new(
        FORGER.to_owned(),
        Config::default().max_failures(1).clock(ManualClock::new()),
    )
    .unwrap();
    cb.call(|| Err::<(), _>(())).unwrap_err();
    let rejected = cb.try_acquire().unwrap_err();
    assert_eq!(
        rejected.breaker(),
        FORGER,
        "the name itself is kept as it is"
    );
    assert_escaped(&rejected.to_string());
}

#[test]
fn a_name_in_another_script_is_printed_as_it_is() {
    let cb = CircuitBreaker::new(
        "службы-платежей".to_owned(),
        Config::default().clock(ManualClock::new()),
    )
    .unwrap();
    cb.force_open();
    let message = cb.try_acquire().unwrap_err().to_string();
    assert!(message.contains("`службы-платежей`"), "{message}");
}
