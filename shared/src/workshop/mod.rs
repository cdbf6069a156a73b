//! The workshop session API, compatible with the Educates training portal REST API
//! (`docs/workshops.md`).

pub mod environment;
pub mod portal;
pub mod reaper;
pub mod session;
pub mod slot;
