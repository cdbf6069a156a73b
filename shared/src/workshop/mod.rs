//! The workshop session API, compatible with the Educates training portal REST API
//! (`docs/workshops.md`).

pub mod counts;
pub mod environment;
pub mod owners;
pub mod portal;
pub mod reaper;
pub mod session;
pub mod slot;

/// A session's states (and its slot's): waiting for activation, running, ended.
pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const ENDED: &str = "ended";
