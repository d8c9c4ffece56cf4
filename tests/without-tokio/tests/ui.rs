//! Compile-fail tests for `#[circuit_breaker]` without the `tokio` feature:
//! each file under `tests/ui/` must fail to compile with exactly the
//! diagnostics in its `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
