use breakerbox::circuit_breaker;

#[circuit_breaker]
fn no_return_type() {}

#[circuit_breaker]
fn returns_option() -> Option<u32> {
    Some(1)
}

type Count = u32;

// An alias the macro cannot see through: the type check reports it.
#[circuit_breaker]
fn returns_alias() -> Count {
    1
}

// The same check for an `async fn`, still one error.
#[circuit_breaker]
async fn returns_alias_async() -> Count {
    1
}

fn main() {}
