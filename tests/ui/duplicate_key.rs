use breakerbox::circuit_breaker;

#[circuit_breaker(max_failures = 3, timeout = "10s", max_failures = 5)]
fn load() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = load();
}
