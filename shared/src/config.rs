//! Configuration, read once at cold start from environment variables (docs/configuration.md).

use crate::master_key::{self, KeyRing};
use serde::Deserialize;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// One public domain the API is served on, with the app and cookie that go with it.
/// A white-label client gets its own entry in `LABGATE_DOMAINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// `Host` header value this entry answers to (lowercase, with the port if not default).
    pub host: String,
    /// Public base URL of the API, without a trailing slash. Empty for the default domain when
    /// `LABGATE_API_URL` is unset: then it is `https://<Host>` of each request.
    pub api_url: String,
    /// Base URL of the lab app, without a trailing slash.
    pub app_url: String,
    /// `Domain` attribute of the session cookie; `None` makes a host-only cookie.
    pub cookie_domain: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// Used for any `Host` that no white-label entry lists.
    pub default_domain: Domain,
    pub white_label: Vec<Domain>,
    pub launch_token_ttl_secs: i64,
    pub web_session_ttl_secs: i64,
    pub oauth_access_token_ttl_secs: i64,
    pub oauth_refresh_token_ttl_secs: i64,
    /// Default activation deadline of a requested workshop session (the `timeout` parameter).
    pub activation_timeout_secs: i64,
    /// How long a launch (with its context) is kept before TTL removes it
    /// (`LABGATE_RETENTION_DAYS`, default 400 days).
    pub retention_secs: i64,
    /// The master key ring that tenants' webhook secrets and sessions' config passwords are
    /// derived from (`master_key`): from `LABGATE_SIGNING_KEY` locally, or filled at cold start
    /// from the secret `LABGATE_SIGNING_KEY_SECRET` names (`AppState::from_env`). Only the event
    /// dispatcher, the session config and the admin CLI need it.
    pub signing_keys: Option<KeyRing>,
    /// The AWS Secrets Manager secret (ARN or name) holding the key ring.
    pub signing_key_secret: Option<String>,
    /// Whether a session's `analytics_url` may name a private, loopback or link-local address
    /// (`LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS=true`; for local development and tests only).
    pub allow_private_analytics_urls: bool,
}

pub const DEFAULT_LAUNCH_TOKEN_TTL_SECS: i64 = 60;
pub const DEFAULT_WEB_SESSION_TTL_SECS: i64 = 12 * 3600;
pub const DEFAULT_OAUTH_ACCESS_TOKEN_TTL_SECS: i64 = 36000;
pub const DEFAULT_OAUTH_REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
pub const DEFAULT_ACTIVATION_TIMEOUT_SECS: i64 = 60;
pub const DEFAULT_RETENTION_DAYS: i64 = 400;

/// No activation link outlives this: a pending workshop session's deadline is at most a day
/// away, whatever `timeout` asks (a larger one is refused) or the workshop's duration gives when
/// `timeout=0` (Educates would wait for ever when the environment has no duration either). A day
/// leaves room for sharing a one-off session URL, what Educates' CLI uses long timeouts for.
pub const MAX_ACTIVATION_TIMEOUT_SECS: i64 = 24 * 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainEntry {
    api_url: String,
    app_url: String,
    #[serde(default)]
    cookie_domain: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source; `from_env` and the tests use it.
    // Long: one line per setting, read and checked in the order docs/configuration.md lists them.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let table_name = required("LABGATE_TABLE_NAME")?;
        let api_url = get("LABGATE_API_URL")
            .map(|u| base_url("LABGATE_API_URL", &u))
            .transpose()?
            .unwrap_or_default();
        let app_url = base_url("LABGATE_APP_URL", &required("LABGATE_APP_URL")?)?;
        let cookie_domain = get("LABGATE_COOKIE_DOMAIN")
            .map(|d| cookie_domain("LABGATE_COOKIE_DOMAIN", &d))
            .transpose()?;
        let default_domain = Domain {
            host: if api_url.is_empty() {
                String::new()
            } else {
                host_of(&api_url)
            },
            api_url,
            app_url,
            cookie_domain,
        };

        let (signing_keys, signing_key_secret) = match master_key::source(get)? {
            Some(master_key::Source::Value(ring)) => (Some(ring), None),
            Some(master_key::Source::Secret(secret)) => (None, Some(secret)),
            None => (None, None),
        };

        let white_label = match get("LABGATE_DOMAINS") {
            None => Vec::new(),
            Some(raw) => parse_domains(&raw)?,
        };

        Ok(Config {
            table_name,
            default_domain,
            white_label,
            launch_token_ttl_secs: seconds(
                "LABGATE_LAUNCH_TOKEN_TTL_SECONDS",
                get("LABGATE_LAUNCH_TOKEN_TTL_SECONDS"),
                DEFAULT_LAUNCH_TOKEN_TTL_SECS,
            )?,
            web_session_ttl_secs: seconds(
                "LABGATE_WEB_SESSION_TTL_SECONDS",
                get("LABGATE_WEB_SESSION_TTL_SECONDS"),
                DEFAULT_WEB_SESSION_TTL_SECS,
            )?,
            oauth_access_token_ttl_secs: seconds(
                "LABGATE_OAUTH_ACCESS_TOKEN_TTL_SECONDS",
                get("LABGATE_OAUTH_ACCESS_TOKEN_TTL_SECONDS"),
                DEFAULT_OAUTH_ACCESS_TOKEN_TTL_SECS,
            )?,
            oauth_refresh_token_ttl_secs: seconds(
                "LABGATE_OAUTH_REFRESH_TOKEN_TTL_SECONDS",
                get("LABGATE_OAUTH_REFRESH_TOKEN_TTL_SECONDS"),
                DEFAULT_OAUTH_REFRESH_TOKEN_TTL_SECS,
            )?,
            signing_keys,
            signing_key_secret,
            activation_timeout_secs: seconds_at_most(
                "LABGATE_ACTIVATION_TIMEOUT_SECONDS",
                get("LABGATE_ACTIVATION_TIMEOUT_SECONDS"),
                DEFAULT_ACTIVATION_TIMEOUT_SECS,
                MAX_ACTIVATION_TIMEOUT_SECS,
            )?,
            retention_secs: 86_400
                * seconds(
                    "LABGATE_RETENTION_DAYS",
                    get("LABGATE_RETENTION_DAYS"),
                    DEFAULT_RETENTION_DAYS,
                )?,
            allow_private_analytics_urls: matches!(
                get("LABGATE_ALLOW_PRIVATE_ANALYTICS_URLS").as_deref(),
                Some("true" | "1")
            ),
        })
    }

    /// The domain a request arrived on, by its `Host` header; unlisted hosts get the default.
    /// Without `LABGATE_API_URL` the default's API URL is the request's own host: API Gateway
    /// routes only the hostnames it serves, so that host is one of ours.
    pub fn domain_for_host(&self, host: Option<&str>) -> Domain {
        let host = host
            .map(|h| h.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if let Some(domain) = self.white_label.iter().find(|d| d.host == host) {
            return domain.clone();
        }
        let mut domain = self.default_domain.clone();
        if domain.api_url.is_empty() && is_host(&host) {
            domain.api_url = format!("https://{host}");
            domain.host = host;
        }
        domain
    }
}

fn parse_domains(raw: &str) -> Result<Vec<Domain>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "LABGATE_DOMAINS",
        reason,
    };
    let entries: Vec<DomainEntry> = serde_json::from_str(raw).map_err(|e| {
        invalid(format!(
            "expected a JSON array of {{\"api_url\", \"app_url\", \"cookie_domain\"}}: {e}"
        ))
    })?;
    entries
        .into_iter()
        .map(|e| {
            let api_url = base_url("LABGATE_DOMAINS", &e.api_url)?;
            Ok(Domain {
                host: host_of(&api_url),
                app_url: base_url("LABGATE_DOMAINS", &e.app_url)?,
                cookie_domain: e
                    .cookie_domain
                    .filter(|d| !d.is_empty())
                    .map(|d| cookie_domain("LABGATE_DOMAINS", &d))
                    .transpose()?,
                api_url,
            })
        })
        .collect()
}

/// An absolute http(s) URL with no query or fragment, returned without its trailing slash
/// (`redirect::base_url`).
pub fn base_url(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    crate::redirect::base_url(raw).map_err(|reason| ConfigError::Invalid {
        name,
        reason: format!("{raw:?}: {reason}"),
    })
}

/// A plain `host[:port]`, nothing that could bend a URL built from it.
pub fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}

fn host_of(base_url: &str) -> String {
    let url = Url::parse(base_url).expect("validated by base_url");
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

fn cookie_domain(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    let valid = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if valid {
        Ok(domain)
    } else {
        Err(ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not a domain name"),
        })
    }
}

/// The cookie domains configured in `LABGATE_COOKIE_DOMAIN` and `LABGATE_DOMAINS` (what the
/// admin CLI checks dashboards against; it does not need the rest of the configuration).
pub fn cookie_domains(get: impl Fn(&str) -> Option<String>) -> Result<Vec<String>, ConfigError> {
    let mut domains: Vec<String> = get("LABGATE_COOKIE_DOMAIN")
        .filter(|d| !d.trim().is_empty())
        .map(|d| cookie_domain("LABGATE_COOKIE_DOMAIN", &d))
        .transpose()?
        .into_iter()
        .collect();
    if let Some(raw) = get("LABGATE_DOMAINS").filter(|d| !d.trim().is_empty()) {
        domains.extend(
            parse_domains(&raw)?
                .into_iter()
                .filter_map(|d| d.cookie_domain),
        );
    }
    Ok(domains)
}

/// Whether a cookie for `cookie_domain` is sent to `host` (the domain itself or any host below).
pub fn covers(cookie_domain: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == cookie_domain || host.ends_with(&format!(".{cookie_domain}"))
}

impl Config {
    /// The master key ring, for the functions that cannot work without it.
    pub fn require_signing_keys(&self) -> Result<&KeyRing, ConfigError> {
        self.signing_keys.as_ref().ok_or(ConfigError::Missing(
            "LABGATE_SIGNING_KEY or LABGATE_SIGNING_KEY_SECRET",
        ))
    }
}

fn seconds(name: &'static str, raw: Option<String>, default: i64) -> Result<i64, ConfigError> {
    match raw {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("{raw:?} is not a positive number of seconds"),
            }),
        },
    }
}

fn seconds_at_most(
    name: &'static str,
    raw: Option<String>,
    default: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    match seconds(name, raw, default)? {
        v if v <= max => Ok(v),
        v => Err(ConfigError::Invalid {
            name,
            reason: format!("{v} is more than the {max} seconds allowed"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_domain_covers_itself_and_the_hosts_below_it_only() {
        assert!(covers("school.edu", "school.edu"));
        assert!(covers("school.edu", "lab-1.dash.school.edu"));
        assert!(!covers("school.edu", "notschool.edu"));
        assert!(!covers("school.edu", "school.edu.evil.example"));
        let env = |k: &str| {
            match k {
            "LABGATE_COOKIE_DOMAIN" => Some(".Labgate.example".to_string()),
            "LABGATE_DOMAINS" => Some(
                r#"[{"api_url": "https://api.s.edu", "app_url": "https://s.edu", "cookie_domain": "s.edu"},
                    {"api_url": "https://api.c.edu", "app_url": "https://c.edu"}]"#
                    .to_string(),
            ),
            _ => None,
        }
        };
        assert_eq!(
            cookie_domains(env).unwrap(),
            vec!["labgate.example", "s.edu"]
        );
    }
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("LABGATE_TABLE_NAME", "labgate"),
        ("LABGATE_API_URL", "https://api.example.com/"),
        ("LABGATE_APP_URL", "https://app.example.com"),
    ];

    #[test]
    fn missing_table_name_fails_cold_start() {
        let err = config(&BASE[1..]).unwrap_err();
        assert_eq!(err.to_string(), "LABGATE_TABLE_NAME is not set");
    }

    #[test]
    fn defaults_apply_and_trailing_slash_is_trimmed() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.default_domain.api_url, "https://api.example.com");
        assert_eq!(c.default_domain.host, "api.example.com");
        assert_eq!(c.launch_token_ttl_secs, 60);
        assert_eq!(c.web_session_ttl_secs, 43200);
    }

    #[test]
    fn an_activation_timeout_past_a_day_fails_cold_start() {
        let mut vars = BASE.to_vec();
        vars.push(("LABGATE_ACTIVATION_TIMEOUT_SECONDS", "86401"));
        let err = config(&vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "LABGATE_ACTIVATION_TIMEOUT_SECONDS is invalid: 86401 is more than the 86400 seconds allowed"
        );
        vars.pop();
        vars.push(("LABGATE_ACTIVATION_TIMEOUT_SECONDS", "86400"));
        assert_eq!(config(&vars).unwrap().activation_timeout_secs, 86400);
    }

    #[test]
    fn white_label_host_picks_its_domain_and_unknown_host_falls_back() {
        let mut vars = BASE.to_vec();
        vars.push((
            "LABGATE_DOMAINS",
            r#"[{"api_url":"https://api.labs.school.edu","app_url":"https://labs.school.edu","cookie_domain":".school.edu"}]"#,
        ));
        let c = config(&vars).unwrap();
        let d = c.domain_for_host(Some("API.labs.school.edu"));
        assert_eq!(d.app_url, "https://labs.school.edu");
        assert_eq!(d.cookie_domain.as_deref(), Some("school.edu"));
        assert_eq!(c.domain_for_host(Some("evil.example")), c.default_domain);
        assert_eq!(c.domain_for_host(None), c.default_domain);
    }

    #[test]
    fn without_an_api_url_the_request_host_is_used() {
        let c = config(&[BASE[0], BASE[2]]).unwrap();
        let d = c.domain_for_host(Some("abc123.execute-api.eu-west-1.amazonaws.com"));
        assert_eq!(
            d.api_url,
            "https://abc123.execute-api.eu-west-1.amazonaws.com"
        );
        let odd = c.domain_for_host(Some("evil.example/x?"));
        assert_eq!(odd.api_url, "");
    }

    #[test]
    fn bad_values_are_refused() {
        let mut vars = BASE.to_vec();
        vars.push(("LABGATE_LAUNCH_TOKEN_TTL_SECONDS", "soon"));
        assert!(config(&vars).is_err());
        let mut vars = BASE.to_vec();
        vars[1] = ("LABGATE_API_URL", "javascript:alert(1)");
        assert!(config(&vars).is_err());
        let mut vars = BASE.to_vec();
        vars.push(("LABGATE_COOKIE_DOMAIN", "a b"));
        assert!(config(&vars).is_err());
    }
}
