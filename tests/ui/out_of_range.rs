use breakerbox::circuit_breaker;

#[circuit_breaker(max_failures = 4294967296)]
fn count_above_u32() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(time_window = "1m", time_window_buckets = 1001)]
fn too_many_buckets() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(count_window = 4294967295)]
fn huge_count_window() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(timeout = "0s")]
fn zero_duration() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(failure_rate = 0.0)]
fn zero_rate() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(failure_rate = 50)]
fn percent_rate() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(backoff_multiplier = 0.5)]
fn shrinking_backoff() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
