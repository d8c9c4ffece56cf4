//! Fallbacks: what an annotated function returns when its breaker rejects
//! the call.
//!
//! ```sh
//! cargo run --example fallback
//! ```
//!
//! The fallback runs **only when the breaker rejects the call** (open,
//! forced open, half-open with every probe slot taken, or over
//! `max_concurrent_calls`). When the call runs and fails, its error is
//! returned as it is. (Other libraries choose differently: some also fall
//! back on errors. Here an error from the dependency stays visible; see the
//! end of `main` for falling back on both.)
//!
//! The fallback takes the same arguments as the function, the receiver
//! first for a method, and returns the same type.

use std::io;

use breakerbox::{circuit_breaker, registry};

// ----- a free function, sync fallback ----------------------------------------

#[circuit_breaker(name = "exchange-rates", fallback = last_known_rate)]
fn exchange_rate(currency: &str) -> io::Result<f64> {
    match currency {
        "EUR" => Ok(1.08),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no rate for {currency}"),
        )),
    }
}

fn last_known_rate(currency: &str) -> io::Result<f64> {
    println!("   (fallback: last_known_rate({currency:?}))");
    Ok(1.0)
}

// ----- a method: `fallback = Self::..`, receiver first -------------------------

struct PriceClient {
    list_prices: Vec<u32>,
}

impl PriceClient {
    #[circuit_breaker(name = "prices", fallback = Self::list_price)]
    fn price(&self, sku: usize) -> io::Result<u32> {
        Ok(self.list_prices[sku] * 9 / 10) // stands for a call to the pricing service
    }

    fn list_price(&self, sku: usize) -> io::Result<u32> {
        println!("   (fallback: self.list_price({sku}))");
        Ok(self.list_prices[sku])
    }
}

// ----- an async function: the fallback may be async ... ----------------------

#[circuit_breaker(name = "recommendations", fallback = popular_items)]
async fn recommendations(user: u64) -> io::Result<Vec<String>> {
    Ok(vec![format!("picked for user {user}")])
}

async fn popular_items(_user: u64) -> io::Result<Vec<String>> {
    println!("   (fallback: popular_items(..).await)");
    Ok(vec!["bestseller".to_string()])
}

// ----- ... or sync -------------------------------------------------------------

#[circuit_breaker(name = "avatars", fallback = default_avatar)]
async fn avatar_url(user: u64) -> io::Result<String> {
    Ok(format!("https://cdn.example/{user}.png"))
}

fn default_avatar(_user: u64) -> io::Result<String> {
    println!("   (fallback: default_avatar(..))");
    Ok("https://cdn.example/default.png".to_string())
}

/// Opens the named breaker by hand, so that its next call is rejected.
fn force_open(name: &str) {
    registry()
        .get(name)
        .expect("created by a first call")
        .force_open();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = PriceClient {
        list_prices: vec![100, 250],
    };

    println!("-- breakers closed: the functions run");
    println!("exchange_rate(\"EUR\") = {:?}", exchange_rate("EUR"));
    println!("client.price(1)      = {:?}", client.price(1));
    println!("recommendations(7)   = {:?}", recommendations(7).await);
    println!("avatar_url(7)        = {:?}", avatar_url(7).await);

    println!("\n-- a call that runs and fails returns its error: no fallback");
    println!(
        "exchange_rate(\"XYZ\") = {:?}",
        exchange_rate("XYZ").map_err(|e| e.to_string())
    );

    println!("\n-- breakers open: calls are rejected, the fallbacks answer");
    for name in ["exchange-rates", "prices", "recommendations", "avatars"] {
        force_open(name);
    }
    println!("exchange_rate(\"EUR\") = {:?}", exchange_rate("EUR"));
    println!("client.price(1)      = {:?}", client.price(1));
    println!("recommendations(7)   = {:?}", recommendations(7).await);
    println!("avatar_url(7)        = {:?}", avatar_url(7).await);

    println!("\n-- to fall back on errors too, say so at the call site");
    registry().get("exchange-rates").expect("exists").reset();
    let rate = exchange_rate("XYZ").or_else(|_| last_known_rate("XYZ"));
    println!("exchange_rate(\"XYZ\").or_else(..) = {rate:?}");
}
