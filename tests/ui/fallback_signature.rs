use breakerbox::circuit_breaker;

#[circuit_breaker(fallback = wrong_argument)]
fn load(id: u64) -> std::io::Result<u64> {
    Ok(id)
}

fn wrong_argument(id: String) -> std::io::Result<u64> {
    Ok(id.len() as u64)
}

#[circuit_breaker(fallback = wrong_return)]
fn count(id: u64) -> std::io::Result<u64> {
    Ok(id)
}

fn wrong_return(id: u64) -> Option<u64> {
    Some(id)
}

#[circuit_breaker(fallback = missing_argument)]
async fn fetch(id: u64, page: u32) -> std::io::Result<u64> {
    Ok(id + u64::from(page))
}

async fn missing_argument(id: u64) -> std::io::Result<u64> {
    Ok(id)
}

#[circuit_breaker(fallback = wrong_output)]
async fn fetch_all(id: u64) -> std::io::Result<u64> {
    Ok(id)
}

async fn wrong_output(id: u64) -> std::io::Result<u32> {
    Ok(id as u32)
}

struct Client;

impl Client {
    // The receiver is passed first, and `cached` takes none.
    #[circuit_breaker(fallback = Self::cached)]
    fn get(&self, id: u64) -> std::io::Result<u64> {
        Ok(id)
    }

    fn cached(id: u64) -> std::io::Result<u64> {
        Ok(id)
    }
}

fn main() {}
