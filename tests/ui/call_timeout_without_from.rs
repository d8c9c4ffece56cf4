use breakerbox::circuit_breaker;

#[derive(Debug)]
enum DbError {
    Rejected,
}

impl From<breakerbox::Rejected> for DbError {
    fn from(_: breakerbox::Rejected) -> Self {
        DbError::Rejected
    }
}

#[circuit_breaker(call_timeout = "2s")]
async fn load() -> Result<u32, DbError> {
    Ok(1)
}

fn main() {}
