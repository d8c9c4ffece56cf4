use breakerbox::circuit_breaker;

#[circuit_breaker]
extern "C" fn callback() -> Result<u32, std::io::Error> {
    Ok(3)
}

fn main() {
    let _ = callback();
}
