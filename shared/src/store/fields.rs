//! Attribute names, declared once: every item builder and reader (and the expression attribute
//! names of updates) uses these, so that a misspelt or renamed attribute fails to compile
//! instead of writing an item that no reader finds. Keys are in `keys`.

pub use super::keys::{EXPIRES_AT, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK, GSI3_SK, PK, SK};

pub const AGS_GRADE: &str = "ags_grade";
pub const AGS_LINE_ITEM: &str = "ags_line_item";
pub const ANALYTICS_URL: &str = "analytics_url";
pub const APP_ROLES: &str = "app_roles";
pub const ATTEMPTS: &str = "attempts";
pub const CAPACITY: &str = "capacity";
pub const CLIENT: &str = "client";
pub const CLIENT_ID: &str = "client_id";
pub const CONTENT_ID: &str = "content_id";
pub const CONTEXT: &str = "context";
pub const CREATED_AT: &str = "created_at";
pub const DASHBOARD_URL: &str = "dashboard_url";
pub const DEADLINE: &str = "deadline";
pub const DIGEST: &str = "digest";
pub const DURATION: &str = "duration";
pub const EMAIL: &str = "email";
pub const END_REASON: &str = "end_reason";
pub const ENVIRONMENT: &str = "environment";
pub const EVENT_ID: &str = "event_id";
pub const EVENT_TYPE: &str = "event_type";
pub const EXTERNAL_ID: &str = "external_id";
pub const FAMILY_NAME: &str = "family_name";
pub const GENERATION: &str = "generation";
pub const GIVEN_NAME: &str = "given_name";
pub const INDEX_URL: &str = "index_url";
pub const KIND: &str = "kind";
pub const LABEL: &str = "label";
pub const LAST_ERROR: &str = "last_error";
pub const LATEST_PROGRESS: &str = "latest_progress";
pub const LAUNCH_ID: &str = "launch_id";
pub const LICENSES: &str = "licenses";
/// An environment's live sessions as counted (`workshop::counts`).
pub const LIVE: &str = "live";
pub const LMS_ROLES: &str = "lms_roles";
pub const NAME: &str = "name";
pub const NEXT: &str = "next";
pub const OAUTH_CLIENT_ID: &str = "oauth_client_id";
pub const OVERTIME: &str = "overtime";
pub const PARAMETERS: &str = "parameters";
pub const PASSWORD_DIGEST: &str = "password_digest";
pub const RESOURCE_ID: &str = "resource_id";
pub const REVOKED_AT: &str = "revoked_at";
pub const SCOPES: &str = "scopes";
pub const SECRET_DIGEST: &str = "secret_digest";
pub const SEQUENCE: &str = "sequence";
pub const SESSION: &str = "session";
pub const SLOT: &str = "slot";
pub const STARTED: &str = "started";
pub const STATE: &str = "state";
pub const STATUS: &str = "status";
pub const TARGET: &str = "target";
pub const TEAM_NAME: &str = "team_name";
pub const TEAMS: &str = "teams";
pub const TITLE: &str = "title";
pub const TOKEN_DIGEST: &str = "token_digest";
pub const TOKEN_ID: &str = "token_id";
pub const UNTIL: &str = "until";
pub const UPDATED_AT: &str = "updated_at";
pub const URL: &str = "url";
pub const USER: &str = "user";
pub const USER_LIMIT: &str = "user_limit";
pub const USERNAME: &str = "username";
pub const VALUE: &str = "value";
pub const WEBHOOK_URL: &str = "webhook_url";
pub const WEBHOOK_VERSION: &str = "webhook_version";
pub const WORKSHOP: &str = "workshop";
pub const WORKSHOP_SESSION: &str = "workshop_session";
pub const WS: &str = "ws";
pub const WS_VERSION: &str = "ws_version";
pub const WEBHOOK_PREVIOUS_VERSION: &str = "webhook_previous_version";
/// The id of the master key the webhook secret in force is derived from (none: `default`).
pub const WEBHOOK_KEY: &str = "webhook_key";
pub const WEBHOOK_PREVIOUS_KEY: &str = "webhook_previous_key";
pub const WEBHOOK_OVERLAP_UNTIL: &str = "webhook_overlap_until";
pub const HOST: &str = "host";
pub const DISABLED_AT: &str = "disabled_at";
/// The digest of the request an idempotency key was first used with.
pub const REQUEST_DIGEST: &str = "request_digest";

// LTI 1.3 registrations.
pub const LTI_ISSUER: &str = "issuer";
pub const LTI_CLIENT_ID: &str = "lti_client_id";
pub const LTI_DEPLOYMENTS: &str = "deployments";
pub const LTI_AUTH_URL: &str = "auth_url";
pub const LTI_TOKEN_URL: &str = "token_url";
pub const LTI_JWKS_URL: &str = "jwks_url";
