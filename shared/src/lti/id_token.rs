//! The id_token of an LTI launch: every check of the IMS Security Framework (section 5.1.3) and
//! LTI Core (section 5.3), in the order that tells the person the first thing wrong.

use super::LtiError;
use super::claims::*;
use super::registration::Registration;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Seconds of clock difference allowed on `exp` and `iat`.
pub const LEEWAY_SECS: u64 = 60;
/// An id_token valid for longer than this is refused.
pub const MAX_LIFETIME_SECS: i64 = 86_400;
/// An id_token larger than this is refused unread (a form field; platforms send a few KiB).
pub const MAX_ID_TOKEN_BYTES: usize = 64 * 1024;

/// What the unverified token says about who signed it: enough to find the registration and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub issuer: String,
    /// The audience that is labgate: `aud` itself, or `azp` when `aud` lists several.
    pub client_id: String,
    pub kid: String,
    /// `custom.content_id`, to read the content with the registration (checked after).
    pub content_id: Option<String>,
    /// `custom.environment`, to read the workshop environment with it.
    pub environment: Option<String>,
}

/// Reads the header and claims without trusting them.
pub fn peek(id_token: &str) -> Result<Unverified, LtiError> {
    let malformed = || LtiError::bad("The id_token is not a JWT.");
    if id_token.len() > MAX_ID_TOKEN_BYTES {
        return Err(LtiError::bad("The id_token is larger than 64 KiB."));
    }
    let header = jsonwebtoken::decode_header(id_token).map_err(|_| malformed())?;
    if header.alg != Algorithm::RS256 {
        return Err(LtiError::unauthorized(
            "The id_token must be signed with RS256.",
        ));
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty())
        .ok_or_else(|| LtiError::unauthorized("The id_token's header names no key (kid)."))?;
    let payload = id_token.split('.').nth(1).ok_or_else(malformed)?;
    let claims: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(malformed)?;
    let issuer = string(&claims, "iss")
        .ok_or_else(|| LtiError::unauthorized("The id_token has no issuer (iss)."))?;
    let client_id = audience(&claims)?;
    let custom = |name: &str| {
        claims
            .get(CUSTOM)
            .and_then(|c| c.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Unverified {
        issuer,
        client_id,
        kid,
        content_id: custom(CUSTOM_CONTENT_ID),
        environment: custom(CUSTOM_ENVIRONMENT),
    })
}

/// `aud` is labgate's client_id, or a list holding it with `azp` naming it (Security Framework
/// 5.1.3, steps 3 and 4).
fn audience(claims: &Map<String, Value>) -> Result<String, LtiError> {
    let azp = string(claims, "azp");
    let list: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(LtiError::unauthorized(
                "The id_token has no audience (aud).",
            ));
        }
    };
    match (list.as_slice(), azp) {
        ([one], None) => Ok(one.to_string()),
        (_, Some(azp)) if list.contains(&azp.as_str()) => Ok(azp),
        (_, Some(_)) => Err(LtiError::unauthorized(
            "The id_token's authorized party (azp) is not among its audiences.",
        )),
        (_, None) => Err(LtiError::unauthorized(
            "The id_token has several audiences and no authorized party (azp).",
        )),
    }
}

fn string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A verified resource link launch.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchClaims {
    pub subject: String,
    pub deployment_id: String,
    pub target_link_uri: String,
    pub resource_link: Map<String, Value>,
    pub roles: Vec<String>,
    pub context: Option<Map<String, Value>>,
    pub custom: Map<String, Value>,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `launch_presentation.document_target`: `iframe`, `window` or `frame`.
    pub document_target: Option<String>,
    /// `launch_presentation.return_url`: where the LMS takes the learner back.
    pub return_url: Option<String>,
    /// When the token expires (the nonce is kept until a while after).
    pub expires_at: i64,
    /// The AGS endpoint claim, when the link is graded (`grades`).
    pub ags_endpoint: Option<Map<String, Value>>,
}

/// A verified deep linking request: an instructor picking what a link opens (Deep Linking 2.0).
#[derive(Debug, Clone, PartialEq)]
pub struct DeepLinkingClaims {
    pub deployment_id: String,
    /// Where the response goes (a form post by the browser).
    pub return_url: String,
    /// Whether several items may be picked.
    pub accept_multiple: bool,
    /// `data`, echoed in the response unchanged.
    pub data: Option<String>,
    pub expires_at: i64,
}

/// What a verified id_token asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    ResourceLink(Box<LaunchClaims>),
    DeepLinking(DeepLinkingClaims),
}

/// Verifies the signature with the platform's `key` and every claim, against the registration
/// and the nonce this browser's login issued.
pub fn verify(
    id_token: &str,
    key: &DecodingKey,
    registration: &Registration,
    expected_nonce: &str,
    now: i64,
) -> Result<Message, LtiError> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&registration.issuer]);
    validation.set_audience(&[&registration.client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECS;
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(id_token, key, &validation).map_err(|e| {
            LtiError::unauthorized(format!("The id_token is not valid: {}.", reason(&e)))
        })?;
    let claims = data.claims;
    // jsonwebtoken checks `exp` but not that `iat` is there, nor that it is in the past.
    let Some(iat) = claims.get("iat").and_then(Value::as_i64) else {
        return Err(LtiError::unauthorized(
            "The id_token has no issue time (iat).",
        ));
    };
    if iat > now + LEEWAY_SECS as i64 {
        return Err(LtiError::unauthorized(
            "The id_token was issued in the future (iat).",
        ));
    }
    // A platform's id_tokens live minutes; one valid for more than a day is not one.
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp > now + MAX_LIFETIME_SECS)
    {
        return Err(LtiError::unauthorized(
            "The id_token expires more than a day from now (exp).",
        ));
    }
    if string(&claims, "azp").is_some_and(|azp| azp != registration.client_id) {
        return Err(LtiError::unauthorized(
            "The id_token's authorized party (azp) is not labgate's client_id.",
        ));
    }
    let nonce = string(&claims, "nonce").unwrap_or_default();
    let same: bool =
        subtle::ConstantTimeEq::ct_eq(nonce.as_bytes(), expected_nonce.as_bytes()).into();
    if !same {
        return Err(LtiError::unauthorized(
            "The id_token's nonce is not the one this browser's login asked for.",
        ));
    }
    let deployment_id = string(&claims, DEPLOYMENT_ID)
        .ok_or_else(|| LtiError::bad("The launch has no deployment_id."))?;
    if !registration.knows_deployment(&deployment_id) {
        return Err(LtiError::unauthorized(format!(
            "Deployment {deployment_id:?} is not registered with labgate."
        )));
    }
    if string(&claims, VERSION).as_deref() != Some(LTI_VERSION) {
        return Err(LtiError::bad("The launch's LTI version is not 1.3.0."));
    }
    let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    match string(&claims, MESSAGE_TYPE).as_deref() {
        Some(RESOURCE_LINK_REQUEST) => resource_link(&claims, deployment_id, expires_at)
            .map(|c| Message::ResourceLink(Box::new(c))),
        Some(DEEP_LINKING_REQUEST) => {
            deep_linking(&claims, deployment_id, expires_at).map(Message::DeepLinking)
        }
        _ => Err(LtiError::bad(
            "The launch's message_type is neither LtiResourceLinkRequest nor LtiDeepLinkingRequest.",
        )),
    }
}

/// The settings of a deep linking request (Deep Linking 2.0, section 4.4.1): a return URL, and
/// `ltiResourceLink` among the types accepted.
fn deep_linking(
    claims: &Map<String, Value>,
    deployment_id: String,
    expires_at: i64,
) -> Result<DeepLinkingClaims, LtiError> {
    let settings = object(claims, DEEP_LINKING_SETTINGS)
        .ok_or_else(|| LtiError::bad("The deep linking request has no settings."))?;
    let return_url = settings
        .get("deep_link_return_url")
        .and_then(Value::as_str)
        .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http")))
        .ok_or_else(|| LtiError::bad("The deep linking request has no return URL."))?;
    let accepts_links = settings
        .get("accept_types")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some(LTI_RESOURCE_LINK)));
    if !accepts_links {
        return Err(LtiError::bad(
            "The LMS does not accept LTI resource links here (accept_types).",
        ));
    }
    Ok(DeepLinkingClaims {
        deployment_id,
        return_url: return_url.to_string(),
        accept_multiple: settings.get("accept_multiple").and_then(Value::as_bool) == Some(true),
        data: settings
            .get("data")
            .and_then(Value::as_str)
            .map(str::to_string),
        expires_at,
    })
}

/// The claims of a resource link launch (LTI Core, section 5.3).
fn resource_link(
    claims: &Map<String, Value>,
    deployment_id: String,
    expires_at: i64,
) -> Result<LaunchClaims, LtiError> {
    let claims = claims.clone();
    let target_link_uri = string(&claims, TARGET_LINK_URI)
        .ok_or_else(|| LtiError::bad("The launch has no target_link_uri."))?;
    let resource_link = object(&claims, RESOURCE_LINK)
        .filter(|link| {
            link.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| !id.is_empty())
        })
        .ok_or_else(|| LtiError::bad("The launch has no resource_link with an id."))?;
    let roles = match claims.get(ROLES) {
        Some(Value::Array(roles)) => roles
            .iter()
            .map(|r| r.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| LtiError::bad("The launch's roles are not all strings."))?,
        _ => return Err(LtiError::bad("The launch has no roles claim.")),
    };
    let subject = string(&claims, "sub").ok_or_else(|| {
        LtiError::bad("The launch has no subject (sub): anonymous launches are not supported.")
    })?;
    Ok(LaunchClaims {
        subject,
        deployment_id,
        target_link_uri,
        resource_link,
        roles,
        context: object(&claims, CONTEXT),
        custom: object(&claims, CUSTOM).unwrap_or_default(),
        email: string(&claims, "email"),
        given_name: string(&claims, "given_name"),
        family_name: string(&claims, "family_name"),
        document_target: object(&claims, LAUNCH_PRESENTATION).and_then(|p| {
            p.get("document_target")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        return_url: object(&claims, LAUNCH_PRESENTATION).and_then(|p| {
            p.get("return_url")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        expires_at,
        ags_endpoint: object(&claims, AGS_ENDPOINT),
    })
}

fn object(claims: &Map<String, Value>, name: &str) -> Option<Map<String, Value>> {
    claims.get(name).and_then(Value::as_object).cloned()
}

/// What a failed check says, in words for the page (never the token).
fn reason(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => "its signature does not match the platform's key",
        ErrorKind::ExpiredSignature => "it has expired",
        ErrorKind::InvalidIssuer => "its issuer is not the registered platform",
        ErrorKind::InvalidAudience => "its audience is not labgate's client_id",
        ErrorKind::MissingRequiredClaim(_) => {
            "a required claim (exp, iat, iss, aud, sub) is missing"
        }
        ErrorKind::InvalidAlgorithm => "it is not signed with RS256",
        _ => "it cannot be read",
    }
}
