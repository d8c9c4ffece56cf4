use breakerbox::circuit_breaker;

// Meant as "no consecutive-failure limit, trip on the rate".
#[circuit_breaker(max_failures = 0, failure_rate = 0.5)]
fn load() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
