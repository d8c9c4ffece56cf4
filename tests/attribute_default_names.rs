//! Without `name`, each annotated function has a breaker of its own, named
//! after the function's path: methods of the same name on two types, or
//! from two traits on one type, never share one. Only an explicit, equal
//! `name` shares a breaker.
//!
//! Tests share the global registry and run in parallel; each uses
//! functions of its own.

mod support;

use std::time::Duration;

use async_trait::async_trait;
use breakerbox::{circuit_breaker, State};
use support::registered::{state_of, trips_after_one_failure};

#[derive(Debug, PartialEq)]
enum AppError {
    Down,
    Rejected(String),
}

impl From<breakerbox::Rejected> for AppError {
    fn from(rejected: breakerbox::Rejected) -> Self {
        AppError::Rejected(rejected.breaker().to_owned())
    }
}

fn outcome(fail: bool) -> Result<u32, AppError> {
    match fail {
        true => Err(AppError::Down),
        false => Ok(1),
    }
}

struct Users;
struct Orders;

impl Users {
    #[circuit_breaker]
    fn get(&self, fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }

    #[circuit_breaker]
    fn open(fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }
}

impl Orders {
    #[circuit_breaker]
    fn get(&self, fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }

    #[circuit_breaker]
    fn open(fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }
}

#[test]
fn methods_of_the_same_name_on_two_types_have_a_breaker_each() {
    let users = "attribute_default_names::Users::get";
    let orders = "attribute_default_names::Orders::get";
    let clock = trips_after_one_failure(users);
    trips_after_one_failure(orders);

    assert_eq!(Users.get(true), Err(AppError::Down));
    assert_eq!(Users.get(false), Err(AppError::Rejected(users.into())));
    assert_eq!(Orders.get(false), Ok(1));
    assert_eq!(state_of(users), Some(State::Open));
    assert_eq!(state_of(orders), Some(State::Closed));

    clock.advance(Duration::from_secs(10));
    assert_eq!(Users.get(false), Ok(1));
    assert_eq!(state_of(users), Some(State::Closed));
}

#[test]
fn associated_functions_without_a_receiver_are_named_after_their_type_too() {
    let users = "attribute_default_names::Users::open";
    trips_after_one_failure(users);

    assert_eq!(Users::open(true), Err(AppError::Down));
    assert_eq!(Users::open(false), Err(AppError::Rejected(users.into())));
    assert_eq!(Orders::open(false), Ok(1));
    assert_eq!(
        state_of("attribute_default_names::Orders::open"),
        Some(State::Closed)
    );
}

trait UserRepo {
    fn find(&self, fail: bool) -> Result<u32, AppError>;
}

trait OrderRepo {
    fn find(&self, fail: bool) -> Result<u32, AppError>;
}

struct Db;

impl UserRepo for Db {
    #[circuit_breaker]
    fn find(&self, fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }
}

impl OrderRepo for Db {
    #[circuit_breaker]
    fn find(&self, fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }
}

#[test]
fn methods_of_two_traits_on_one_type_have_a_breaker_each() {
    let users = "<attribute_default_names::Db as attribute_default_names::UserRepo>::find";
    let orders = "<attribute_default_names::Db as attribute_default_names::OrderRepo>::find";
    trips_after_one_failure(users);

    assert_eq!(UserRepo::find(&Db, true), Err(AppError::Down));
    assert_eq!(
        UserRepo::find(&Db, false),
        Err(AppError::Rejected(users.into()))
    );
    assert_eq!(OrderRepo::find(&Db, false), Ok(1));
    assert_eq!(state_of(orders), Some(State::Closed));
}

struct Cache<T>(T);

impl<T> Cache<T> {
    #[circuit_breaker]
    fn read(&self, fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }
}

#[test]
fn every_instantiation_of_a_generic_impl_shares_its_breaker() {
    let name = "attribute_default_names::Cache::read";
    trips_after_one_failure(name);

    assert_eq!(Cache(1u8).read(true), Err(AppError::Down));
    assert_eq!(
        Cache(String::new()).read(false),
        Err(AppError::Rejected(name.into()))
    );
}

#[async_trait]
trait Remote {
    async fn call(&self, fail: bool) -> Result<u32, AppError>;
}

#[async_trait]
impl Remote for Db {
    #[circuit_breaker]
    async fn call(&self, fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }
}

#[circuit_breaker]
async fn load(fail: bool) -> Result<u32, AppError> {
    outcome(fail)
}

#[tokio::test]
async fn async_functions_are_named_after_the_function_not_its_future() {
    let remote = "<attribute_default_names::Db as attribute_default_names::Remote>::call";
    let free = "attribute_default_names::load";
    trips_after_one_failure(remote);
    trips_after_one_failure(free);

    assert_eq!(Db.call(true).await, Err(AppError::Down));
    assert_eq!(Db.call(false).await, Err(AppError::Rejected(remote.into())));
    assert_eq!(load(true).await, Err(AppError::Down));
    assert_eq!(load(false).await, Err(AppError::Rejected(free.into())));
}

mod users {
    use super::*;

    #[circuit_breaker(name = "default-names-shared", max_failures = 1)]
    pub fn get(fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }
}

mod orders {
    use super::*;

    #[circuit_breaker(name = "default-names-shared", max_failures = 1)]
    pub fn get(fail: bool) -> Result<u32, AppError> {
        outcome(fail)
    }
}

#[test]
fn an_explicit_equal_name_shares_one_breaker() {
    assert_eq!(users::get(true), Err(AppError::Down));
    assert_eq!(
        orders::get(false),
        Err(AppError::Rejected("default-names-shared".into()))
    );
}

/// Two functions of one name nested in sibling blocks of one function:
/// rustc prints the same path for both (`..::nested_in_blocks::load`).
fn nested_in_blocks(first: bool, fail: bool) -> Result<u32, AppError> {
    if first {
        #[circuit_breaker(max_failures = 1)]
        fn load(fail: bool) -> Result<u32, AppError> {
            outcome(fail)
        }
        load(fail)
    } else {
        #[circuit_breaker(max_failures = 1)]
        fn load(fail: bool) -> Result<u32, AppError> {
            outcome(fail)
        }
        load(fail)
    }
}

#[test]
fn functions_whose_paths_print_alike_do_not_share_a_default_breaker() {
    assert_eq!(nested_in_blocks(true, true), Err(AppError::Down));
    assert!(matches!(
        nested_in_blocks(true, false),
        Err(AppError::Rejected(_))
    ));
    // The other `load` never failed: its breaker is its own.
    assert_eq!(nested_in_blocks(false, false), Ok(1));
}
