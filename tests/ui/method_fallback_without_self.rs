use breakerbox::circuit_breaker;

struct Client {
    last: u64,
}

impl Client {
    #[circuit_breaker(fallback = last_known)]
    fn get(&self, id: u64) -> std::io::Result<u64> {
        Ok(id)
    }

    fn last_known(&self, _id: u64) -> std::io::Result<u64> {
        Ok(self.last)
    }
}

fn main() {}
