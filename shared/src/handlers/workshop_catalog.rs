//! `GET /workshops/catalog/environments/`: the tenant's environments, as Educates lists them.

use crate::clock;
use crate::http;
use crate::state::AppState;
use crate::workshop::environment;
use crate::workshop::portal::{PortalError, environment_json, portal_json, robot, truthy};
use lambda_http::http::StatusCode;
use lambda_http::http::header::HOST;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| list(state, req)).await
}

fn query_all(req: &Request, name: &str) -> Vec<String> {
    http::query_values(req.uri().query().unwrap_or(""), name)
}

#[tracing::instrument(skip_all)]
async fn list(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let grant = robot(state, &req).await?;
    let now = clock::now();
    let with_sessions = truthy(http::query_param(&req, "sessions"));
    // Environments are always RUNNING here; `state=` filters on that as Educates does.
    let states: Vec<String> = query_all(&req, "state")
        .iter()
        .map(|s| s.to_ascii_uppercase())
        .collect();
    let wanted_state = states.is_empty() || states.iter().any(|s| s == "RUNNING");
    let names = query_all(&req, "name");

    let views = environment::list(&state.store, &grant.tenant.id, with_sessions).await?;
    let environments: Vec<_> = views
        .iter()
        .filter(|_| wanted_state)
        .filter(|v| names.is_empty() || names.contains(&v.environment.workshop.name))
        .map(|v| environment_json(v, now, true, with_sessions))
        .collect();
    let allocated: i64 = views.iter().map(|v| v.allocated()).sum();
    let domain = state
        .config
        .domain_for_host(http::header(&req, HOST.as_str()));
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "portal": portal_json(&grant, &domain.api_url, allocated),
            "environments": environments,
        }),
    ))
}
