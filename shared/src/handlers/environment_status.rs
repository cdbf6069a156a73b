//! `GET /workshops/environment/{name}/status/`: one environment of the tenant, as Educates shows it.

use crate::clock;
use crate::http;
use crate::state::AppState;
use crate::tenant;
use crate::workshop::environment;
use crate::workshop::portal::{PortalError, environment_json, path_param, robot, truthy};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| environment_status(state, req)).await
}

#[tracing::instrument(skip_all)]
async fn environment_status(state: &AppState, req: Request) -> Result<Response<Body>, PortalError> {
    let grant = robot(state, &req).await?;
    let unknown = || PortalError::text(StatusCode::FORBIDDEN, "Environment does not exist");
    let name = path_param(&req, "name").ok_or_else(unknown)?;
    if !environment::is_valid_name(&name) {
        return Err(unknown());
    }
    let with_sessions = truthy(http::query_param(&req, "sessions"));
    let tenant_id = &grant.tenant.id;
    let view = environment::load_listed(&state.store, tenant_id, &name, with_sessions).await?;
    let view = tenant::owned(view, tenant_id).ok_or_else(unknown)?;
    Ok(http::json(
        StatusCode::OK,
        &environment_json(&view, clock::now(), false, with_sessions),
    ))
}
