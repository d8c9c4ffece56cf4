use breakerbox::circuit_breaker;

#[circuit_breaker(max_failure = 5)]
fn misspelt() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(retries = 3)]
fn unrelated() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    // The functions are still emitted: calling them is not a second error.
    let _ = misspelt();
    let _ = unrelated();
}
