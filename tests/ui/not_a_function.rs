use breakerbox::circuit_breaker;

#[circuit_breaker]
struct Client;

#[circuit_breaker(max_failures = 3)]
impl Client {
    fn get(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[circuit_breaker]
const LIMIT: u32 = 3;

fn main() {
    // The items are still emitted: using them is not a second error.
    let _ = Client.get();
    let _ = LIMIT;
}
