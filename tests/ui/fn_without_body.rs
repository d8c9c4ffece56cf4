use breakerbox::circuit_breaker;

trait Store {
    #[circuit_breaker]
    fn get(&self) -> std::io::Result<u32>;
}

fn main() {}
