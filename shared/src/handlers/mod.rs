//! One module per function in `functions/`, named as the function is (dashes as underscores).
//! Each has `handle`, which the function's `main.rs` runs: it reads the request, calls the
//! domain modules (where the rules live: `docs/architecture.md`) and writes the response.
//! Every HTTP handler runs through `http::respond`, which turns its error into its answer.

pub mod catalog_workshops;
pub mod environment_status;
pub mod event_dispatcher;
pub mod launch;
pub mod launch_auth;
pub mod lti_deep_link;
pub mod lti_jwks;
pub mod lti_launch;
pub mod lti_login;
pub mod lti_register;
pub mod oauth_revoke;
pub mod oauth_token;
pub mod progress;
pub mod reaper;
pub mod session_activate;
pub mod session_authorize;
pub mod session_config;
pub mod session_counter;
pub mod session_delete;
pub mod session_event;
pub mod session_extend;
pub mod session_request;
pub mod session_schedule;
pub mod session_terminate;
pub mod user_sessions;
pub mod web_session;
pub mod workshop_catalog;
