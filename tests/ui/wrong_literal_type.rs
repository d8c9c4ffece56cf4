use breakerbox::circuit_breaker;

#[circuit_breaker(name = db)]
fn unquoted_name() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(max_failures = "5")]
fn quoted_count() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(max_failures = 2.5)]
fn fractional_count() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(failure_rate = "50%")]
fn quoted_rate() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(fallback = "cached")]
fn quoted_fallback() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(classify = |e| true)]
fn closure_classifier() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
