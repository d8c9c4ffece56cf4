use breakerbox::circuit_breaker;

fn is_outage(error: &String) -> bool {
    error.is_empty()
}

#[circuit_breaker(classify = is_outage)]
fn load() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
