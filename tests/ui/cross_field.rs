use breakerbox::circuit_breaker;

#[circuit_breaker(failure_rate = 0.5, count_window = 20, time_window = "1m")]
fn both_windows() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(time_window_buckets = 10)]
fn buckets_without_window() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(slow_call_rate = 0.5)]
fn slow_rate_without_duration() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(backoff_max = "10m")]
fn backoff_max_without_multiplier() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(backoff_multiplier = 2.0, backoff_max = "30s")]
fn backoff_max_below_timeout() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
