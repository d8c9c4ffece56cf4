use breakerbox::circuit_breaker;

#[circuit_breaker(call_timeout = "2s")]
fn load() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {
    let _ = load();
}
