//! `GET /workshops/catalog/workshops/`: the workshops of the tenant's environments, each with
//! its environment, as Educates lists them (its shape B).

use crate::http;
use crate::state::AppState;
use crate::workshop::environment;
use crate::workshop::portal::{PortalError, environment_counts, portal_json, robot, workshop_json};
use lambda_http::http::StatusCode;
use lambda_http::http::header::HOST;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| list(state, req)).await
}

#[tracing::instrument(skip_all)]
async fn list(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let grant = robot(state, &req).await?;
    // Every environment here is RUNNING, the only state Educates lists in this catalog.
    let views = environment::list(&state.store, &grant.tenant.id, false).await?;
    let workshops: Vec<_> = views
        .iter()
        .map(|view| {
            let mut workshop = workshop_json(&view.environment.workshop, true);
            workshop["environment"] = environment_counts(view);
            workshop
        })
        .collect();
    let allocated: i64 = views.iter().map(|v| v.allocated()).sum();
    let domain = state
        .config
        .domain_for_host(http::header(&req, HOST.as_str()));
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "portal": portal_json(&grant, &domain.api_url, allocated),
            "workshops": workshops,
        }),
    ))
}
