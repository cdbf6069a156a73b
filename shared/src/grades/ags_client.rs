//! The calls AGS makes to a platform: an access token by the OAuth 2 client credentials grant
//! with a signed JWT client assertion (IMS Security Framework, section 4.1; RFC 7523), kept for
//! its lifetime, and a score posted to `{lineitem}/scores`.

use crate::lti::claims::{AGS_SCOPE_SCORE, SCORE_MEDIA_TYPE};
use crate::lti::registration::Registration;
use crate::lti::tool_keys::ToolKey;
use crate::net::describe;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a client assertion is valid (it is used at once).
const ASSERTION_SECS: i64 = 300;
/// A token is renewed this long before the platform says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// A token endpoint's answer larger than this is refused.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// The URL a line item's scores are posted to: `/scores` appended to its path, before any
/// query string (AGS 2.0, section 3.4). `None` if the line item is not an https URL (http only
/// for localhost).
pub fn scores_url(lineitem: &str) -> Option<url::Url> {
    // https: the access token goes with the score (plain http only on this machine).
    let mut url = crate::lti::registration::secure_url(lineitem).ok()?;
    url.set_fragment(None);
    url.path_segments_mut().ok()?.pop_if_empty().push("scores");
    Some(url)
}

/// The signed client assertion: labgate (its client_id) to the platform's token endpoint.
pub fn client_assertion(
    key: &ToolKey,
    client_id: &str,
    token_url: &str,
    now: i64,
) -> Result<String, String> {
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + ASSERTION_SECS,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    let signing = jsonwebtoken::EncodingKey::from_rsa_der(key.private_der());
    jsonwebtoken::encode(&header, &claims, &signing)
        .map_err(|e| format!("the client assertion cannot be signed: {e}"))
}

/// Posts scores for the event dispatcher: one HTTP client, and the access tokens this warm
/// instance holds, by registration.
pub struct AgsClient {
    http: reqwest::Client,
    allow_private: bool,
    tokens: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl AgsClient {
    /// Platforms are reached at public addresses only, unless `allow_private` (tests, local).
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, reqwest::Error> {
        Ok(AgsClient {
            http: crate::net::third_party_client(timeout, timeout, allow_private)?,
            allow_private,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// One attempt at posting `score` to the line item: with the held token, and with a new one
    /// if the platform refuses that (401).
    pub async fn post_score(
        &self,
        registration: &Registration,
        key: &ToolKey,
        lineitem: &str,
        score: &Value,
    ) -> Result<(), String> {
        let url = scores_url(lineitem).ok_or("the line item is not an https URL")?;
        self.check_address(&url)?;
        for renewed in [false, true] {
            let token = self.token(registration, key, renewed).await?;
            let response = self
                .http
                .post(url.clone())
                .bearer_auth(&token)
                .header("content-type", SCORE_MEDIA_TYPE)
                .body(score.to_string())
                .send()
                .await
                .map_err(|e| format!("scores: {}", describe(&e)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            if status != reqwest::StatusCode::UNAUTHORIZED || renewed {
                return Err(format!("scores: HTTP {}", status.as_u16()));
            }
            self.forget(registration);
        }
        Err("scores: HTTP 401".into())
    }

    fn check_address(&self, url: &url::Url) -> Result<(), String> {
        // IP literals skip the resolver: they are judged here.
        if self.allow_private || crate::net::is_public_host(url) {
            Ok(())
        } else {
            Err("not a public address".into())
        }
    }

    fn forget(&self, registration: &Registration) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(&Self::held_as(registration));
        }
    }

    fn held_as(registration: &Registration) -> (String, String) {
        (registration.issuer.clone(), registration.client_id.clone())
    }

    /// The access token for the registration: the one held while it is valid, else a new one.
    async fn token(
        &self,
        registration: &Registration,
        key: &ToolKey,
        renew: bool,
    ) -> Result<String, String> {
        let held_as = Self::held_as(registration);
        if !renew
            && let Some((token, until)) = self
                .tokens
                .lock()
                .ok()
                .and_then(|t| t.get(&held_as).cloned())
            && Instant::now() < until
        {
            return Ok(token);
        }
        let url = url::Url::parse(&registration.token_url)
            .map_err(|_| "the registration's token URL is not a URL")?;
        self.check_address(&url)?;
        let assertion = client_assertion(
            key,
            &registration.client_id,
            &registration.token_url,
            crate::clock::now(),
        )?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", &assertion)
            .append_pair("scope", AGS_SCOPE_SCORE)
            .finish();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| format!("token: {}", describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("token: HTTP {}", status.as_u16()));
        }
        let body = crate::net::read_limited(response, MAX_TOKEN_RESPONSE_BYTES)
            .await
            .map_err(|e| format!("token: {e}"))?;
        let answer: Value =
            serde_json::from_slice(&body).map_err(|_| "token: the answer is not JSON")?;
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("token: the answer has no access_token")?
            .to_string();
        // Without `expires_in`, an hour (the usual lifetime); never longer than a day.
        let lifetime = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600)
            .min(86_400);
        let until = Instant::now() + Duration::from_secs(lifetime).saturating_sub(TOKEN_MARGIN);
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(held_as, (token.clone(), until));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_go_after_the_path_and_before_the_query() {
        let cases = [
            (
                "https://lms.example.edu/api/lti/courses/1/line_items/7",
                "https://lms.example.edu/api/lti/courses/1/line_items/7/scores",
            ),
            (
                "https://lms.example.edu/mod/lti/services.php/2/lineitems/9/lineitem?type_id=3",
                "https://lms.example.edu/mod/lti/services.php/2/lineitems/9/lineitem/scores?type_id=3",
            ),
            (
                "https://lms.example.edu/lineitems/9/",
                "https://lms.example.edu/lineitems/9/scores",
            ),
        ];
        for (lineitem, scores) in cases {
            assert_eq!(scores_url(lineitem).unwrap().as_str(), scores, "{lineitem}");
        }
        for bad in [
            "ftp://lms.example.edu/x",
            "not a url",
            "mailto:a@b.c",
            "http://lms.example.edu/lineitems/9",
        ] {
            assert!(scores_url(bad).is_none(), "{bad}");
        }
    }
}
