use std::future::Future;
use std::pin::Pin;

use breakerbox::circuit_breaker;

#[circuit_breaker]
fn count() -> impl Future<Output = u32> {
    async { 1 }
}

#[circuit_breaker]
fn boxed_count() -> Pin<Box<dyn Future<Output = Option<u32>> + Send>> {
    Box::pin(async { Some(1) })
}

#[circuit_breaker]
fn numbers() -> impl Iterator<Item = u32> {
    0..3
}

fn main() {}
