use breakerbox::circuit_breaker;

#[derive(Debug)]
struct User;

#[derive(Debug)]
enum DbError {
    Rejected,
}

impl From<breakerbox::Rejected> for DbError {
    fn from(_: breakerbox::Rejected) -> Self {
        DbError::Rejected
    }
}

// The fallback returns the user, not the function's `Result`.
#[circuit_breaker(fallback = cached_user)]
async fn load_user(id: u64) -> Result<User, DbError> {
    let _ = id;
    Ok(User)
}

fn cached_user(id: u64) -> User {
    let _ = id;
    User
}

// An async fallback whose future resolves to another `Result`.
#[circuit_breaker(fallback = cached_count)]
async fn count_users() -> Result<u64, DbError> {
    Ok(1)
}

async fn cached_count() -> Result<u32, DbError> {
    Ok(1)
}

fn main() {}
