use breakerbox::circuit_breaker;

#[circuit_breaker(timeout = "60 sec")]
fn unknown_unit() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(timeout = "1.5s")]
fn fraction() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(timeout = "30s1m")]
fn out_of_order() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(timeout = 60s)]
fn unquoted() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(timeout = 60)]
fn no_unit() -> std::io::Result<()> {
    Ok(())
}

#[circuit_breaker(timeout = "99999999999999999999999d")]
fn too_long() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
