//! Deep Linking 2.0: an instructor picks which of the tenant's labs a link opens, and labgate
//! answers the LMS with a signed `LtiDeepLinkingResponse` of `ltiResourceLink` items, each with
//! the custom parameter `content_id` that its launches read (`lti::launch`), and, when the
//! instructor gives the points it is worth, a `lineItem` the LMS makes a gradebook column of
//! (its launches then carry the AGS claim, and progress reports become scores: `grades`).
//!
//! The request's context (where to return, its `data`, the registration) travels through the
//! picking page sealed with the master key ring (HMAC-SHA256, ten minutes), so that the page
//! needs no cookie inside the LMS's frame and no one can make labgate sign a response for a
//! request it did not verify.

use super::LtiError;
use super::claims::*;
use super::id_token::DeepLinkingClaims;
use super::registration::Registration;
use super::tool_keys::ToolKey;
use crate::content::Content;
use crate::http::escape_html;
use crate::master_key::KeyRing;
use crate::workshop::environment::Environment;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How long an instructor has to pick.
pub const PICK_MAX_AGE_SECS: i64 = 600;
/// How long the signed response is valid (the browser posts it at once).
pub const RESPONSE_MAX_AGE_SECS: i64 = 300;
/// Where the picking page posts.
pub const PICK_PATH: &str = "/lti/deep-link";

/// What a picking page carries from the verified request to the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pick {
    pub issuer: String,
    pub client_id: String,
    pub deployment_id: String,
    pub tenant: String,
    pub return_url: String,
    pub data: Option<String>,
    pub multiple: bool,
    pub expires_at: i64,
}

/// The purpose a pick's tag is made for (`KeyRing::tag`).
const PICK_TAG: &str = "labgate-lti-pick";

impl Pick {
    pub fn new(registration: &Registration, request: &DeepLinkingClaims, now: i64) -> Self {
        Pick {
            issuer: registration.issuer.clone(),
            client_id: registration.client_id.clone(),
            deployment_id: request.deployment_id.clone(),
            tenant: registration.tenant.clone(),
            return_url: request.return_url.clone(),
            data: request.data.clone(),
            multiple: request.accept_multiple,
            expires_at: now + PICK_MAX_AGE_SECS,
        }
    }

    /// `<base64url JSON>.<mac>`, signed with the key in force.
    pub fn seal(&self, keys: &KeyRing) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let mac = keys.tag(PICK_TAG, &payload);
        format!("{payload}.{mac}")
    }

    /// The pick a sealed value stands for, if a key of the ring sealed it and it is not past.
    pub fn open(sealed: &str, keys: &KeyRing, now: i64) -> Option<Pick> {
        let (payload, given) = sealed.split_once('.')?;
        if sealed.len() > 8 * 1024 || !keys.verify_tag(PICK_TAG, payload, given) {
            return None;
        }
        let pick: Pick = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (pick.expires_at > now).then_some(pick)
    }
}

/// The value a picked workshop environment has in the picking page's form.
pub const ENVIRONMENT_PICK: &str = "env:";

/// The picking page: the tenant's labs and workshops, one to pick (or several when the LMS
/// accepts them).
pub fn picking_page(
    sealed: &str,
    contents: &[Content],
    environments: &[Environment],
    multiple: bool,
) -> String {
    let kind = if multiple { "checkbox" } else { "radio" };
    let choices = contents
        .iter()
        .map(|c| (c.id.clone(), c.title.clone()))
        .chain(environments.iter().map(|e| {
            (
                format!("{ENVIRONMENT_PICK}{}", e.name),
                format!("{} (workshop)", title_of(e)),
            )
        }));
    let items: String = choices
        .enumerate()
        .map(|(i, (value, title))| {
            let name = if multiple {
                format!("content_{value}")
            } else {
                "content".to_string()
            };
            let checked = if i == 0 && !multiple { " checked" } else { "" };
            format!(
                "<li><label><input type=\"{kind}\" name=\"{name}\" value=\"{id}\"{checked}> {title}</label></li>",
                name = escape_html(&name),
                id = escape_html(&value),
                title = escape_html(&title),
            )
        })
        .collect();
    let nothing = contents.is_empty() && environments.is_empty();
    let body = if nothing {
        "<p>This labgate account has no labs or workshops yet (<code>labgate-admin content create</code>, <code>labgate-admin environment create</code>).</p>"
            .to_string()
    } else {
        format!(
            "<form method=\"post\" action=\"{PICK_PATH}\"><input type=\"hidden\" name=\"pick\" value=\"{sealed}\">\
             <ul style=\"list-style: none; padding: 0\">{items}</ul>\
             <p><label>Points in the gradebook <input type=\"number\" name=\"points\" min=\"1\" max=\"{MAX_POINTS}\" step=\"1\"></label><br>\
             <small>Leave empty for a lab that is not graded.</small></p>\
             <button type=\"submit\">Add to the course</button></form>",
            sealed = escape_html(sealed),
        )
    };
    crate::http::html_page("Pick a lab", &format!("<h1>Pick a lab</h1>{body}"))
}

/// The picked content ids of the picking page's form (`content`, or `content_<id>` each).
pub fn picked(form: &std::collections::HashMap<String, String>) -> Vec<String> {
    let mut ids: Vec<String> = form
        .iter()
        .filter(|(k, _)| *k == "content" || k.starts_with("content_"))
        .map(|(_, v)| v.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The most points a graded link may be worth.
pub const MAX_POINTS: u32 = 10_000;

/// The points the instructor gave (`points`): none when left empty, else a whole number from 1
/// to `MAX_POINTS`.
pub fn points(form: &std::collections::HashMap<String, String>) -> Result<Option<u32>, LtiError> {
    match form
        .get("points")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        None => Ok(None),
        Some(given) => given
            .parse::<u32>()
            .ok()
            .filter(|p| (1..=MAX_POINTS).contains(p))
            .map(Some)
            .ok_or_else(|| {
                LtiError::bad(format!(
                    "Points must be a whole number from 1 to {MAX_POINTS}, or left empty."
                ))
            }),
    }
}

/// A workshop's title as a link shows it: its workshop's title, else the environment's name.
pub fn title_of(environment: &Environment) -> String {
    let title = environment.workshop.title.trim();
    if title.is_empty() {
        environment.name.clone()
    } else {
        title.to_string()
    }
}

/// What the response links: the picked labs and workshops, the points each is worth if graded,
/// and labgate's API URL (the links' launch URL).
pub struct Links<'a> {
    pub picked: &'a [Content],
    pub environments: &'a [Environment],
    pub points: Option<u32>,
    pub api_url: &'a str,
}

/// The signed `LtiDeepLinkingResponse` (Deep Linking 2.0, section 4.5): from labgate (`iss` is
/// the client_id the platform gave it) to the platform (`aud` its issuer), with the request's
/// `data` echoed and one `ltiResourceLink` per picked lab (`custom.content_id`) or workshop
/// (`custom.environment`), with a `lineItem` when graded (AGS 2.0, section 3.1: `scoreMaximum`,
/// `label`, `resourceId` the lab's id or the environment's name).
pub fn response(pick: &Pick, links: &Links, key: &ToolKey, now: i64) -> Result<String, LtiError> {
    let picked = links
        .picked
        .iter()
        .map(|c| (c.title.clone(), c.id.clone(), CUSTOM_CONTENT_ID))
        .chain(
            links
                .environments
                .iter()
                .map(|e| (title_of(e), e.name.clone(), CUSTOM_ENVIRONMENT)),
        );
    let items: Vec<Value> = picked
        .map(|(title, id, parameter)| {
            let mut item = json!({
                "type": LTI_RESOURCE_LINK,
                "title": title,
                "url": format!("{}{}", links.api_url, super::login::LAUNCH_PATH),
                "custom": {parameter: id},
            });
            if let Some(points) = links.points {
                item["lineItem"] = json!({
                    "scoreMaximum": points,
                    "label": title,
                    "resourceId": id,
                });
            }
            item
        })
        .collect();
    let mut claims = json!({
        "iss": pick.client_id,
        "aud": pick.issuer,
        "iat": now,
        "exp": now + RESPONSE_MAX_AGE_SECS,
        "nonce": crate::secrets::new_url_token().expose(),
        DEPLOYMENT_ID: pick.deployment_id,
        MESSAGE_TYPE: DEEP_LINKING_RESPONSE,
        VERSION: LTI_VERSION,
        CONTENT_ITEMS: items,
    });
    if let Some(data) = &pick.data {
        claims[DEEP_LINKING_DATA] = json!(data);
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    let signing = jsonwebtoken::EncodingKey::from_rsa_der(key.private_der());
    jsonwebtoken::encode(&header, &claims, &signing).map_err(|e| {
        LtiError::Store(crate::store::StoreError::Failed {
            op: "sign the deep linking response",
            detail: e.to_string(),
        })
    })
}

/// The page that takes the response back to the LMS: a form post of `JWT` to its return URL.
pub fn return_page(return_url: &str, jwt: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Back to the course</title></head>\
         <body style=\"font-family: sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem\">\
         <form method=\"post\" action=\"{url}\"><input type=\"hidden\" name=\"JWT\" value=\"{jwt}\">\
         <p>Your pick is ready.</p><button type=\"submit\">Back to the course</button></form></body></html>\n",
        url = escape_html(return_url),
        jwt = escape_html(jwt),
    )
}
