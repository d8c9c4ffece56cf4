use breakerbox::circuit_breaker;

#[circuit_breaker]
const fn limit() -> Result<u32, std::io::Error> {
    Ok(3)
}

fn main() {
    let _ = limit();
}
