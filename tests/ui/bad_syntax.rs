use breakerbox::circuit_breaker;

#[circuit_breaker(max_failures 5)]
fn missing_equals() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(max_failures = 5 timeout = "1s")]
fn missing_comma() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(max_failures =)]
fn missing_value() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker("db")]
fn missing_key() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
