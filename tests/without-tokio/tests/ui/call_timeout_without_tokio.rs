use breakerbox::circuit_breaker;

#[derive(Debug)]
enum DbError {
    Rejected,
    TimedOut,
}

impl From<breakerbox::Rejected> for DbError {
    fn from(_: breakerbox::Rejected) -> Self {
        DbError::Rejected
    }
}

impl From<breakerbox::TimedOut> for DbError {
    fn from(_: breakerbox::TimedOut) -> Self {
        DbError::TimedOut
    }
}

#[circuit_breaker(call_timeout = "2s")]
async fn load() -> Result<u32, DbError> {
    Ok(1)
}

fn main() {}
