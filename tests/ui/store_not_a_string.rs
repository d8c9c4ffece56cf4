use breakerbox::circuit_breaker;

#[circuit_breaker(store = fleet)]
fn shared() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = shared();
}
