//! Retuning breakers without recompiling: settings from a TOML file and
//! from `BREAKER_<NAME>__<KEY>` environment variables, merged key by key
//! over the attribute's literals.
//!
//! ```sh
//! cargo run --example file_config --features toml,serde
//! BREAKER_DB__MAX_FAILURES=2 cargo run --example file_config --features toml,serde
//! ```

use std::io;
use std::path::Path;

use breakerbox::{circuit_breaker, registry};

// The file sets `timeout` for "db": `max_failures = 5` stays as written here.
#[circuit_breaker(name = "db", max_failures = 5, timeout = "60s")]
fn load_user(id: u64) -> io::Result<String> {
    Ok(format!("user {id}"))
}

#[circuit_breaker(name = "payments", max_failures = 10)]
fn charge(cents: u64) -> io::Result<u64> {
    Ok(cents)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Before the breakers' first use: the file, then the environment.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/breakers.toml");
    breakerbox::load_config(&file)?;

    load_user(1)?;
    charge(100)?;
    for name in ["db", "payments"] {
        let config = registry().get(name).unwrap().config().clone();
        println!(
            "{name:<9} max_failures = {:?}, timeout = {:?}",
            config.settings().max_failures,
            config.settings().timeout
        );
    }

    // A malformed file is an error naming the file, the breaker and the key.
    let error = breakerbox::ConfigFile::parse("breakers.toml", "[db]\ntimeout = 30\n").unwrap_err();
    println!("\n{error}");

    // And the status endpoint's JSON, as operators would check it.
    println!("\n{}", registry().status_json());
    Ok(())
}
