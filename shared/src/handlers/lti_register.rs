//! `GET` and `POST /lti/register`: LTI Dynamic Registration 1.0 (`lti::dynamic_registration`).
//! The LMS opens the one-time link (`GET`): a page that says what will be registered for which
//! labgate account. Its button (`POST`) runs the exchange with the platform and records the
//! registration, then tells the LMS to close the window.

use crate::api_client::ApiClient;
use crate::lti::LtiError;
use crate::lti::dynamic_registration::{self, Request as Registering};
use crate::state::AppState;
use crate::store::fields::CLIENT;
use crate::store::keys;
use crate::{http, tenant};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use std::collections::HashMap;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| register(state, req)).await
}

async fn register(state: &AppState, req: Request) -> Result<Response<Body>, LtiError> {
    let names = ["token", "openid_configuration", "registration_token"];
    let params: HashMap<String, String> = match *req.method() {
        Method::GET => names
            .iter()
            .filter_map(|n| http::query_param(&req, n).map(|v| (n.to_string(), v)))
            .collect(),
        Method::POST => http::unique_form(http::body_bytes(&req)).map_err(LtiError::bad)?,
        _ => return Err(LtiError::bad("The registration takes GET or POST.")),
    };
    let registering = Registering::from_params(&params)?;
    let allow_private = state.config.allow_private_analytics_urls;
    registering.configuration_url(allow_private)?;
    let domain = http::domain(&state.config, &req);
    if domain.api_url.is_empty() {
        return Err(LtiError::bad("Missing or invalid Host header."));
    }
    let tenant_id = dynamic_registration::tenant_of(&state.store, &registering).await?;
    // The tenant (its name, and whether it is disabled) and the white-label binding, at once.
    let client_key = keys::client(&tenant_id);
    let binding = tenant::domain_binding(&state.config, &domain);
    let wanted: Vec<_> = std::iter::once(client_key.clone())
        .chain(binding.clone())
        .collect();
    let found = crate::store::batch_get(&state.store, &wanted).await?;
    let client_item = crate::store::find(&found, &client_key)
        .filter(|item| !crate::disable::is_disabled(item))
        .ok_or_else(|| LtiError::unauthorized("This labgate account is disabled."))?;
    let client = ApiClient::from_attr(client_item.get(CLIENT))?;
    if !tenant::may_use_domain(&found, binding.as_ref(), &client.id) {
        return Err(LtiError::bad(
            "This registration link is for another labgate domain.",
        ));
    }
    if *req.method() == Method::GET {
        let page = dynamic_registration::confirm_page(&registering, &client.name);
        return Ok(http::html(StatusCode::OK, page));
    }
    let http_client = dynamic_registration::http_client(allow_private)
        .map_err(|e| LtiError::Platform(format!("No HTTPS client: {e}")))?;
    let registration = dynamic_registration::complete(
        &state.store,
        &http_client,
        allow_private,
        &registering,
        (&domain.api_url, &client.name),
    )
    .await?;
    tracing::info!(client = %client.id, issuer = %registration.issuer, "LTI platform registered dynamically");
    Ok(http::html(
        StatusCode::OK,
        dynamic_registration::done_page(&registration),
    ))
}
