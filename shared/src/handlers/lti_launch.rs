//! `POST /lti/launch`: the platform's form post of an id_token. Every check of the LTI security
//! framework (`lti::id_token`), then the launch recorded as `POST /api/v1/launch` records one
//! (`lti::launch`), and the lab opened at top level, where its cookie can be set.
//!
//! Two DynamoDB round trips: the registration, the tenant and the content in one batch, then the
//! launch's transaction with the id_token's nonce. A link to a workshop environment
//! (`lti::workshop`) reads the environment in the same batch, then uses the nonce up and
//! requests a session as the workshop API does.

use crate::api_client::ApiClient;
use crate::lti::platform_keys::PlatformKeys;
use crate::lti::{
    LtiError, deep_linking, id_token, launch, login, platform_storage, registration, workshop,
};
use crate::metrics::{self, Metric};
use crate::state::AppState;
use crate::store::fields::CLIENT;
use crate::store::keys;
use crate::workshop::environment;
use crate::{clock, content, http, tenant};
use lambda_http::http::header::{COOKIE, LOCATION, SET_COOKIE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| lti_launch(state, req)).await
}

/// Refused before anything is read: the state cookie is this browser's, or the launch is not.
const NO_STATE: &str = "This browser did not keep labgate's sign-in cookie. Open the lab in a new \
     window from the LMS: some browsers refuse cookies inside the LMS's frame.";

#[tracing::instrument(skip_all)]
async fn lti_launch(state: &AppState, req: Request) -> Result<Response<Body>, LtiError> {
    if req.method() != Method::POST {
        return Err(LtiError::bad("The launch is a form post from the LMS."));
    }
    let form = http::unique_form(http::body_bytes(&req)).map_err(LtiError::bad)?;
    if let Some(error) = form.get("error") {
        // Only the OIDC error codes are shown: anyone can post here, and the page is labgate's.
        let detail = form.get("error_description").map_or("", String::as_str);
        tracing::info!(error = %error, detail = %detail, "the LMS answered the login with an error");
        let code = match error.as_str() {
            "login_required"
            | "interaction_required"
            | "account_selection_required"
            | "consent_required"
            | "invalid_request"
            | "invalid_request_object"
            | "unauthorized_client"
            | "access_denied"
            | "unsupported_response_type"
            | "invalid_scope"
            | "server_error"
            | "temporarily_unavailable" => error.as_str(),
            _ => "an unknown error",
        };
        return Err(LtiError::unauthorized(format!(
            "The LMS refused the sign-in ({code}): start the lab again from the course."
        )));
    }
    let (Some(id_token), Some(state_param)) = (form.get("id_token"), form.get("state")) else {
        return Err(LtiError::bad("The launch has no id_token or no state."));
    };
    // The master key ring verifies the state cookie (`lti::login`).
    let ring = state
        .config
        .require_signing_keys()
        .map_err(LtiError::no_key_ring)?;
    let cookies = req.headers().get_all(COOKIE);
    let from_cookie = login::state_of(cookies.iter().filter_map(|v| v.to_str().ok()), state_param);
    // Without the cookie, the state as platform storage kept it (`lti::platform_storage`),
    // posted by labgate's own page only: a form field anyone could post, unlike the cookie, so
    // a post from another site (login CSRF with an attacker's state) is refused.
    let domain = http::domain(&state.config, &req);
    let from_storage = || {
        let value = form.get("lti_state")?;
        same_origin(&req, &domain.api_url).then(|| login::parse_state(state_param, value))?
    };
    let Some(cookie) = from_cookie.or_else(from_storage) else {
        return from_platform_storage(state, &form, (id_token, state_param), &domain.api_url).await;
    };
    let peeked = id_token::peek(id_token)?;
    if !registration::plausible(&peeked.issuer, Some(&peeked.client_id)) {
        return Err(LtiError::unauthorized(
            "No LTI registration for this issuer and client_id.",
        ));
    }

    // One round trip: the registration the token names, the tenant the login found, the
    // content, and the white-label domain's binding.
    let binding = tenant::domain_binding(&state.config, &domain);
    let registration_key = keys::lti_registration(&peeked.issuer, &peeked.client_id);
    let client_key = keys::client(cookie.tenant());
    let content_key = peeked
        .content_id
        .as_deref()
        .and_then(content::parse_content_id)
        .map(|id| keys::content(&id));
    let environment_key = peeked
        .environment
        .as_deref()
        .filter(|name| environment::is_valid_name(name))
        .map(keys::environment);
    let wanted: Vec<_> = [registration_key, client_key.clone()]
        .into_iter()
        .chain(content_key)
        .chain(environment_key.clone())
        .chain(binding.clone())
        .collect();
    let found = crate::store::batch_get(&state.store, &wanted).await?;
    let registration =
        registration::found(&found, &peeked.issuer, &peeked.client_id)?.ok_or_else(|| {
            LtiError::unauthorized("No LTI registration for this issuer and client_id.")
        })?;
    let now = clock::now();
    // Signed by labgate for this registration and tenant, and not expired.
    let bound = cookie
        .verify(ring, &registration, now)
        .ok_or_else(|| LtiError::unauthorized(NO_STATE))?;
    if !tenant::may_use_domain(&found, binding.as_ref(), &registration.tenant) {
        return Err(LtiError::bad("This LMS is not registered on this domain."));
    }

    let platform = platform_keys(state)?;
    let key = platform.key(&registration.jwks_url, &peeked.kid).await?;
    let message = id_token::verify(id_token, &key, &registration, &bound.nonce, now)?;

    let client_item = crate::store::find(&found, &client_key)
        .filter(|item| !crate::disable::is_disabled(item))
        .ok_or_else(|| LtiError::unauthorized("This LMS's labgate account is disabled."))?;
    let client = ApiClient::from_attr(client_item.get(CLIENT))?;
    let claims = match message {
        id_token::Message::ResourceLink(claims) => *claims,
        id_token::Message::DeepLinking(request) => {
            // An instructor picks the lab: the nonce used up, the tenant's labs listed.
            launch::use_nonce(&state.store, &bound.nonce, &client.id, request.expires_at).await?;
            let contents = content::list_content(&state.store, &client.id).await?;
            let environments: Vec<_> = environment::list(&state.store, &client.id, false)
                .await?
                .into_iter()
                .map(|view| view.environment)
                .collect();
            let pick = deep_linking::Pick::new(&registration, &request, now);
            let sealed = pick.seal(ring);
            let page = deep_linking::picking_page(&sealed, &contents, &environments, pick.multiple);
            let mut response = http::html(StatusCode::OK, page);
            let clear = HeaderValue::from_str(&login::clear_state(state_param))
                .map_err(|_| LtiError::bad("The state cannot be cleared."))?;
            response.headers_mut().insert(SET_COOKIE, clear);
            return Ok(response);
        }
    };
    if let workshop::Target::Workshop(name) = workshop::target(&claims)? {
        // A workshop session, with its one-time activation (`lti::workshop`).
        let environment = environment_key
            .as_ref()
            .filter(|key| *key == &keys::environment(&name))
            .and_then(|key| tenant::find_owned(&found, key, &client.id))
            .map(environment::Environment::from_item)
            .transpose()?
            .ok_or_else(|| LtiError::bad(format!("Workshop environment {name:?} not found.")))?;
        if domain.api_url.is_empty() {
            return Err(LtiError::bad("Missing or invalid Host header."));
        }
        let (url, allocated) = workshop::start(
            &state.store,
            (&client, &environment),
            (&registration, &claims, &bound.nonce),
            (&domain.api_url, state.config.activation_timeout_secs),
        )
        .await?;
        tracing::info!(client = %client.id, environment = %environment.name, issuer = %registration.issuer, "LTI workshop session granted");
        metrics::count(Metric::SessionsAllocated, u64::from(allocated));
        return opened(&req, &claims, &url, state_param);
    }
    let mut payload = launch::payload(&registration, &claims)?;
    // A graded link: its progress reports go to the LMS's gradebook (`grades`).
    payload.line_item = crate::grades::LineItem::of_launch(&registration, &claims);
    let content_key = keys::content(&payload.content_id);
    if tenant::find_owned(&found, &content_key, &client.id).is_none() {
        let id = &payload.content_id;
        return Err(LtiError::bad(format!("Content {id} not found.")));
    }
    let (launch_id, url) = launch::record(
        &state.store,
        &state.config,
        (&client, &domain),
        &payload,
        (&bound.nonce, &claims),
    )
    .await?;
    tracing::info!(client = %client.id, launch = %launch_id, issuer = %registration.issuer, "LTI launch created");
    metrics::count(Metric::LaunchesCreated, 1);
    opened(&req, &claims, &url, state_param)
}

/// A launch that came without its state cookie: for a platform that offers storage (it names
/// its storage frame) and has not been asked yet, a page that reads the state from it and posts
/// the launch again; otherwise refused. One read: the registration the id_token names, for the
/// platform's origin.
async fn from_platform_storage(
    state: &AppState,
    form: &std::collections::HashMap<String, String>,
    (id_token, state_param): (&str, &str),
    api_url: &str,
) -> Result<Response<Body>, LtiError> {
    let target = platform_storage::target(form.get("lti_storage_target").map(String::as_str));
    let (Some(target), None) = (target, form.get("lti_state")) else {
        return Err(LtiError::unauthorized(NO_STATE));
    };
    let peeked = id_token::peek(id_token)?;
    if !registration::plausible(&peeked.issuer, Some(&peeked.client_id)) {
        return Err(LtiError::unauthorized(NO_STATE));
    }
    let registration =
        registration::find(&state.store, &peeked.issuer, Some(&peeked.client_id)).await?;
    let origin = platform_storage::origin_of(&registration.auth_url)
        .ok_or_else(|| LtiError::unauthorized(NO_STATE))?;
    if api_url.is_empty() {
        return Err(LtiError::bad("Missing or invalid Host header."));
    }
    let action = format!("{api_url}{}", login::LAUNCH_PATH);
    let page =
        platform_storage::get_page(&target, &origin, (&action, id_token, state_param), NO_STATE);
    Ok(http::html(StatusCode::OK, page))
}

/// Whether the request comes from a page of labgate's own origin: its `Origin` header (which
/// browsers send with every form post), or `Sec-Fetch-Site: same-origin`.
fn same_origin(req: &Request, api_url: &str) -> bool {
    let ours = platform_storage::origin_of(api_url);
    let by_origin = http::header(req, "origin")
        .zip(ours.as_deref())
        .is_some_and(|(given, ours)| given == ours);
    by_origin || http::header(req, "sec-fetch-site") == Some("same-origin")
}

/// The platforms' keys this warm instance has fetched.
fn platform_keys(state: &AppState) -> Result<&PlatformKeys, LtiError> {
    if let Some(keys) = state.platform_keys.get() {
        return Ok(keys);
    }
    let built = PlatformKeys::new(state.config.allow_private_analytics_urls)
        .map_err(|e| LtiError::Platform(format!("No HTTPS client: {e}")))?;
    Ok(state.platform_keys.get_or_init(|| built))
}

/// The lab, opened where its session cookie can be set. At top level (the browser says so with
/// `Sec-Fetch-Dest: document`; without that header, the LMS asked for a window): 303 to the
/// one-time URL. In the LMS's frame, where cookies are often refused: a page whose link opens it
/// in a new window.
fn opened(
    req: &Request,
    claims: &id_token::LaunchClaims,
    url: &str,
    state_param: &str,
) -> Result<Response<Body>, LtiError> {
    // The browser knows where it is; the LMS's wish counts only when the browser does not say.
    let top_level = match http::header(req, "sec-fetch-dest") {
        Some(dest) => dest == "document",
        None => claims.document_target.as_deref() == Some("window"),
    };
    let mut response = if top_level {
        let mut response = http::empty(StatusCode::SEE_OTHER);
        let location = HeaderValue::from_str(url)
            .map_err(|_| LtiError::bad("The lab's URL cannot be a header."))?;
        response.headers_mut().insert(LOCATION, location);
        response
    } else {
        http::html(StatusCode::OK, new_window_page(url))
    };
    let clear = HeaderValue::from_str(&login::clear_state(state_param))
        .map_err(|_| LtiError::bad("The state cannot be cleared."))?;
    response.headers_mut().insert(SET_COOKIE, clear);
    Ok(response)
}

fn new_window_page(url: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your lab is ready</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body style=\"font-family: sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem\">\
         <h1>Your lab is ready</h1><p><a href=\"{url}\" target=\"_blank\" rel=\"noopener\">Open the lab in a new window</a></p>\
         <p>The link works once, within a minute; after that, open the lab again from the course.</p></body></html>\n",
        url = http::escape_html(url),
    )
}
