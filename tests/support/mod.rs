pub mod redis_server;
pub mod slow_proxy;
