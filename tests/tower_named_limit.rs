//! `CircuitBreakerLayer::named` under the registry's limit on breakers
//! created on demand. A test binary of its own: the limit is the
//! process-wide registry's, and would refuse the names of other tests
//! running beside it.

use std::sync::Arc;

use breakerbox::tower::CircuitBreakerLayer;
use breakerbox::{registry, Config, RegistryError};

#[test]
fn a_named_layer_refused_by_the_registrys_limit_reports_it_when_built() {
    registry().set_max_dynamic(Some(1));
    let first = CircuitBreakerLayer::named("tower-limit-a", Config::default()).unwrap();
    let refused = CircuitBreakerLayer::named("tower-limit-b", Config::default()).unwrap_err();
    assert_eq!(
        refused,
        RegistryError::Full {
            name: "tower-limit-b".to_owned(),
            max: 1
        }
    );
    // A name the registry holds is still served at the limit.
    let again = CircuitBreakerLayer::named("tower-limit-a", Config::default()).unwrap();
    assert!(Arc::ptr_eq(first.breaker(), again.breaker()));
}
