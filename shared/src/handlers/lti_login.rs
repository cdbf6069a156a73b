//! `GET` and `POST /lti/login`: LTI 1.3 login initiation from a platform (`lti::login`): 302 to
//! the platform's authorization endpoint, with the state cookie.

use crate::lti::login::{self, LoginRequest};
use crate::lti::{LtiError, platform_storage, registration};
use crate::state::AppState;
use crate::{clock, http, tenant};
use lambda_http::http::header::{LOCATION, SET_COOKIE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};

pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::respond(req, |req| login(state, req)).await
}

async fn login(state: &AppState, req: Request) -> Result<Response<Body>, LtiError> {
    let login = match *req.method() {
        Method::GET => LoginRequest::parse(|name| http::query_param(&req, name))?,
        Method::POST => {
            let form = http::unique_form(http::body_bytes(&req)).map_err(LtiError::bad)?;
            LoginRequest::parse(|name| form.get(name).cloned())?
        }
        _ => return Err(LtiError::bad("The login takes GET or POST.")),
    };
    // The master key ring signs the state cookie (`lti::login`).
    let keys = state
        .config
        .require_signing_keys()
        .map_err(LtiError::no_key_ring)?;
    let registration =
        registration::find(&state.store, &login.issuer, login.client_id.as_deref()).await?;
    let domain = http::domain(&state.config, &req);
    // A white-label host serves its own tenant only, as for API launches.
    if let Some(binding) = tenant::domain_binding(&state.config, &domain) {
        let found = crate::store::batch_get(&state.store, std::slice::from_ref(&binding)).await?;
        if !tenant::may_use_domain(&found, Some(&binding), &registration.tenant) {
            return Err(LtiError::bad("This LMS is not registered on this domain."));
        }
    }
    let redirect = login::redirect(&registration, &login, &domain, (keys, clock::now()))?;
    let header = |value: &str| {
        HeaderValue::from_str(value).map_err(|_| LtiError::bad("The login cannot be redirected."))
    };
    let storage = login
        .storage_target
        .as_deref()
        .zip(platform_storage::origin_of(&registration.auth_url));
    let mut response = match storage {
        // A platform with storage: the state is also kept there, for a browser that refuses
        // the cookie in the LMS's frame (`lti::platform_storage`).
        Some((target, origin)) => {
            let page = platform_storage::put_page(
                target,
                &origin,
                &redirect.state,
                &redirect.value,
                &redirect.location,
            );
            http::html(StatusCode::OK, page)
        }
        None => {
            let mut response = http::empty(StatusCode::FOUND);
            response
                .headers_mut()
                .insert(LOCATION, header(&redirect.location)?);
            response
        }
    };
    response
        .headers_mut()
        .insert(SET_COOKIE, header(&redirect.set_cookie)?);
    Ok(response)
}
