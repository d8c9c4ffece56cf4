//! A crate that names the runtime `breaker` and re-exports it as
//! `resilience`, as a company's shared-utilities crate might.

/// The runtime under the path this crate's users see.
pub mod resilience {
    pub use breaker::*;
}

/// A dependency that fails on demand.
#[derive(Debug, PartialEq)]
pub enum DbError {
    /// The dependency failed.
    Down,
    /// The breaker rejected the call.
    Rejected,
}

impl From<breaker::Rejected> for DbError {
    fn from(_: breaker::Rejected) -> Self {
        DbError::Rejected
    }
}

/// Protected by a breaker found through the manifest's name for the
/// runtime, `breaker`.
#[breaker::circuit_breaker(name = "renamed-dependency", max_failures = 2, timeout = "60s")]
pub fn through_the_renamed_dependency(fail: bool) -> Result<u32, DbError> {
    if fail {
        Err(DbError::Down)
    } else {
        Ok(1)
    }
}

/// Protected by a breaker found through the re-export, named with the
/// `crate` key.
#[resilience::circuit_breaker(
    crate = "crate::resilience",
    name = "re-exported",
    max_failures = 2,
    timeout = "60s"
)]
pub async fn through_a_re_export(fail: bool) -> Result<u32, DbError> {
    if fail {
        Err(DbError::Down)
    } else {
        Ok(1)
    }
}
