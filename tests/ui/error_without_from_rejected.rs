use breakerbox::circuit_breaker;

#[derive(Debug)]
struct DbError;

#[circuit_breaker]
fn load() -> Result<u32, DbError> {
    Ok(1)
}

fn main() {
    let _ = load();
}
