//! `POST /lti/deep-link`: the instructor's pick from the picking page (`lti::deep_linking`),
//! answered with the signed `LtiDeepLinkingResponse`, posted back to the LMS by the browser.

use crate::http;
use crate::lti::{LtiError, deep_linking};
use crate::state::AppState;
use crate::store::keys;
use crate::workshop::environment;
use crate::{clock, content, tenant};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| deep_link(state, req)).await
}

/// Labs one response may link at most.
pub const MAX_PICKED: usize = 50;

async fn deep_link(state: &AppState, req: Request) -> Result<Response<Body>, LtiError> {
    if req.method() != Method::POST {
        return Err(LtiError::bad(
            "The pick is a form post from the picking page.",
        ));
    }
    // The master key ring opens the pick, and holds the tool key that signs the response.
    let ring = state
        .config
        .require_signing_keys()
        .map_err(LtiError::no_key_ring)?;
    let form = http::unique_form(http::body_bytes(&req)).map_err(LtiError::bad)?;
    let pick = form
        .get("pick")
        .and_then(|sealed| deep_linking::Pick::open(sealed, ring, clock::now()))
        .ok_or_else(|| {
            LtiError::bad("This page has expired or was altered: pick again from the LMS.")
        })?;
    let key = ring.tool_keys().first().ok_or_else(|| {
        LtiError::Store(crate::store::StoreError::Failed {
            op: "sign the deep linking response",
            detail: "the key ring has no LTI tool key (docs/lti.md, the tool's keys)".into(),
        })
    })?;
    let points = deep_linking::points(&form)?;
    let ids = deep_linking::picked(&form);
    if ids.is_empty() {
        return Err(LtiError::bad("Pick a lab."));
    }
    if (ids.len() > 1 && !pick.multiple) || ids.len() > MAX_PICKED {
        return Err(LtiError::bad("The LMS takes one lab here."));
    }
    // Labs by content id, workshops by environment name (`env:<name>`); all read at once.
    let (workshops, labs): (Vec<&String>, Vec<&String>) = ids
        .iter()
        .partition(|id| id.starts_with(deep_linking::ENVIRONMENT_PICK));
    let lab_keys: Vec<_> = labs
        .iter()
        .map(|id| {
            content::parse_content_id(id)
                .map(|id| keys::content(&id))
                .ok_or_else(|| LtiError::bad("A picked lab is not a content id."))
        })
        .collect::<Result<_, _>>()?;
    let workshop_keys: Vec<_> = workshops
        .iter()
        .map(|id| {
            Some(&id[deep_linking::ENVIRONMENT_PICK.len()..])
                .filter(|name| environment::is_valid_name(name))
                .map(keys::environment)
                .ok_or_else(|| LtiError::bad("A picked workshop is not an environment name."))
        })
        .collect::<Result<_, _>>()?;
    let wanted: Vec<_> = lab_keys.iter().chain(&workshop_keys).cloned().collect();
    let found = crate::store::batch_get(&state.store, &wanted).await?;
    let owned = |key: &keys::Key| tenant::find_owned(&found, key, &pick.tenant);
    let not_found = || LtiError::bad("A picked lab was not found.");
    let picked = lab_keys
        .iter()
        .map(|key| {
            owned(key)
                .map(content::from_item)
                .transpose()?
                .ok_or_else(not_found)
        })
        .collect::<Result<Vec<_>, LtiError>>()?;
    let environments = workshop_keys
        .iter()
        .map(|key| {
            owned(key)
                .map(environment::Environment::from_item)
                .transpose()?
                .ok_or_else(not_found)
        })
        .collect::<Result<Vec<_>, LtiError>>()?;
    let domain = http::domain(&state.config, &req);
    if domain.api_url.is_empty() {
        return Err(LtiError::bad("Missing or invalid Host header."));
    }
    let links = deep_linking::Links {
        picked: &picked,
        environments: &environments,
        points,
        api_url: &domain.api_url,
    };
    let jwt = deep_linking::response(&pick, &links, key, clock::now())?;
    tracing::info!(client = %pick.tenant, issuer = %pick.issuer, items = picked.len() + environments.len(), graded = points.is_some(), "deep linking response signed");
    Ok(http::html(
        StatusCode::OK,
        deep_linking::return_page(&pick.return_url, &jwt),
    ))
}
