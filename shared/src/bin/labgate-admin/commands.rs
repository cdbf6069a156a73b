//! The commands of `labgate-admin` that write, one function each (`views.rs` has those that
//! read and show).

use super::{CreateClient, CreateEnvironment};
use labgate::api_client::{self, NewClient};
use labgate::store::{Store, StoreError, schema};
use labgate::workshop::{environment, slot};
use labgate::{clock, config, content, oauth, tenant, user};
use std::collections::BTreeMap;

fn err(e: StoreError) -> String {
    e.to_string()
}

/// Fails unless the client exists.
async fn require_client(store: &Store, client: &str) -> Result<(), String> {
    match api_client::get_client(store, client).await.map_err(err)? {
        Some(_) => Ok(()),
        None => Err(format!("no client {client:?}")),
    }
}

pub async fn create_table(store: &Store) -> Result<(), String> {
    let created = schema::create_table(store).await.map_err(err)?;
    let state = if created { "created" } else { "already exists" };
    eprintln!("table {}: {state}", store.table());
    Ok(())
}

pub async fn create_client(store: &Store, args: CreateClient) -> Result<(), String> {
    let app_url = args
        .app_url
        .map(|u| config::base_url("--app-url", &u).map_err(|e| e.to_string()))
        .transpose()?;
    let allowed_origins = args
        .allowed_origins
        .iter()
        .map(|o| labgate::redirect::origin(o))
        .collect::<Result<Vec<_>, _>>()?;
    let new = NewClient {
        name: args.name,
        app_url,
        allowed_origins,
        role_mapping: args.roles.into_iter().collect::<BTreeMap<_, _>>(),
        require_resource_id: args.require_resource_id,
    };
    let client = api_client::create_client(store, new).await.map_err(err)?;
    eprintln!("created client {:?}", client.name);
    println!("{}", client.id);
    Ok(())
}

pub async fn list_clients(store: &Store) -> Result<(), String> {
    for c in api_client::list_clients(store).await.map_err(err)? {
        let roles: Vec<String> = c
            .role_mapping
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{}\t{}\tapp_url={}\torigins={}\troles={}\tcreated={}",
            c.id,
            c.name,
            c.app_url.as_deref().unwrap_or("(domain default)"),
            c.allowed_origins.join(","),
            roles.join(","),
            clock::rfc3339(c.created_at)
        );
    }
    Ok(())
}

pub async fn issue_token(
    store: &Store,
    client: &str,
    label: &str,
    mut scopes: Vec<api_client::Scope>,
) -> Result<(), String> {
    if scopes.is_empty() {
        scopes.push(api_client::Scope::Launch);
    }
    let (info, secret) = api_client::issue_token(store, client, label, &scopes)
        .await
        .map_err(err)?
        .ok_or_else(|| format!("no client {client:?}"))?;
    eprintln!(
        "token {} issued for client {client}; it is shown once, keep it secret:",
        info.token_id
    );
    println!("{}", secret.expose());
    Ok(())
}

pub async fn list_tokens(store: &Store, client: &str) -> Result<(), String> {
    for t in api_client::list_tokens(store, client).await.map_err(err)? {
        let state = match t.revoked_at {
            Some(at) => format!("revoked {}", clock::rfc3339(at)),
            None => "live".to_string(),
        };
        println!(
            "{}\t{}\tscopes={}\tcreated={}\t{state}",
            t.token_id,
            t.label,
            t.scopes.join(","),
            clock::rfc3339(t.created_at)
        );
    }
    Ok(())
}

pub async fn revoke_token(store: &Store, client: &str, token_id: &str) -> Result<(), String> {
    if !api_client::revoke_token(store, client, token_id)
        .await
        .map_err(err)?
    {
        return Err(format!("no live token {token_id:?} for client {client:?}"));
    }
    eprintln!("token {token_id} revoked");
    Ok(())
}

pub async fn create_content(
    store: &Store,
    client: &str,
    id: Option<&str>,
    title: &str,
) -> Result<(), String> {
    require_client(store, client).await?;
    let c = content::create_content(store, client, id, title)
        .await
        .map_err(err)?;
    eprintln!("created content {:?}", c.title);
    println!("{}", c.id);
    Ok(())
}

pub async fn list_content(store: &Store, client: &str) -> Result<(), String> {
    for c in content::list_content(store, client).await.map_err(err)? {
        let created = clock::rfc3339(c.created_at);
        println!("{}\t{}\tcreated={created}", c.id, c.title);
    }
    Ok(())
}

pub async fn list_users(store: &Store, client: &str) -> Result<(), String> {
    for u in user::list_users(store, client).await.map_err(err)? {
        let email = u.email.as_deref().unwrap_or("");
        let (roles, licenses) = (u.roles.join(","), u.licenses.join(","));
        let teams = u.teams.join(",");
        println!(
            "{}\t{}\temail={email}\troles={roles}\tlicenses={licenses}\tteams={teams}",
            u.external_id, u.id
        );
    }
    Ok(())
}

pub async fn create_robot(
    store: &Store,
    client: &str,
    username: Option<String>,
) -> Result<(), String> {
    let username = username.unwrap_or_else(|| format!("robot@{client}"));
    if !oauth::is_valid_username(&username) {
        return Err(format!(
            "a username is 1 to {} bytes, without control or invisible characters",
            oauth::MAX_USERNAME_BYTES
        ));
    }
    let created = oauth::create_robot(store, client, &username)
        .await
        .map_err(|e| match e {
            labgate::store::tx::TxError::Condition { .. } => {
                format!("username {username:?} is taken")
            }
            other => other.to_string(),
        })?
        .ok_or_else(|| format!("no client {client:?}"))?;
    eprintln!("robot created; the secrets are shown once, keep them secret:");
    println!("CLIENT_ID={}", created.client_id);
    println!("CLIENT_SECRET={}", created.client_secret.expose());
    println!("USERNAME={}", created.username);
    println!("PASSWORD={}", created.password.expose());
    Ok(())
}

pub async fn list_robots(store: &Store, client: &str) -> Result<(), String> {
    for r in oauth::list_robots(store, client).await.map_err(err)? {
        let created = clock::rfc3339(r.created_at);
        println!(
            "{}\tclient_id={}\tcreated={created}",
            r.username, r.oauth_client_id
        );
    }
    Ok(())
}

pub async fn rotate_robot(
    store: &Store,
    client: &str,
    username: &str,
    secret: bool,
    overlap: i64,
) -> Result<(), String> {
    use oauth::credentials::{self, Credential};
    let which = if secret {
        Credential::ClientSecret
    } else {
        Credential::Password
    };
    let new = credentials::rotate(store, client, username, which, overlap)
        .await
        .map_err(err)?
        .ok_or_else(|| format!("client {client:?} has no robot {username:?}"))?;
    let name = if secret { "CLIENT_SECRET" } else { "PASSWORD" };
    eprintln!("rotated; shown once, keep it secret (the old one works {overlap} s more):");
    println!("{name}={}", new.expose());
    Ok(())
}

pub async fn remove_robot(store: &Store, client: &str, username: &str) -> Result<(), String> {
    let removed = oauth::credentials::remove(store, client, username)
        .await
        .map_err(|e| e.to_string())?;
    if !removed {
        return Err(format!("client {client:?} has no robot {username:?}"));
    }
    eprintln!("robot {username} removed; its tokens no longer work");
    Ok(())
}

/// The environment `args` describe, checked as the functions will use it.
fn environment_of(args: CreateEnvironment) -> Result<environment::Environment, String> {
    if !environment::is_valid_name(&args.name) {
        return Err(format!("{:?} is not a valid environment name", args.name));
    }
    let workshop: environment::Workshop = serde_json::from_str(&args.workshop)
        .map_err(|e| format!("--workshop is not valid workshop JSON: {e}"))?;
    if workshop.name.is_empty() {
        return Err("--workshop needs a name".into());
    }
    let sample = args
        .dashboard_url
        .replace("{session}", &format!("{}-s001", args.name));
    config::base_url("--dashboard-url", &sample).map_err(|e| e.to_string())?;
    let domains = config::cookie_domains(|k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
    dashboard_outside(&sample, &domains)?;
    if args.capacity < 1 || args.capacity > slot::MAX_CAPACITY {
        let max = slot::MAX_CAPACITY;
        return Err(format!("--capacity must be between 1 and {max}"));
    }
    let counts = [args.duration, args.deadline, args.overtime, args.user_limit];
    if counts.iter().any(|v| *v < 0) {
        return Err("durations and limits cannot be negative".into());
    }
    Ok(environment::Environment {
        name: args.name,
        client_id: args.client,
        workshop,
        capacity: args.capacity,
        duration_secs: args.duration,
        deadline_secs: args.deadline,
        overtime_secs: args.overtime,
        user_limit: args.user_limit,
        dashboard_url: args.dashboard_url,
        created_at: clock::now(),
    })
}

/// A dashboard runs learners' code: under a cookie domain it would receive (and could set) the
/// session cookie of every learner. Checked against the cookie domains configured where the CLI
/// runs (`LABGATE_COOKIE_DOMAIN`, `LABGATE_DOMAINS`: the stack's values).
fn dashboard_outside(sample: &str, domains: &[String]) -> Result<(), String> {
    let host = url::Url::parse(sample)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    match domains.iter().find(|d| config::covers(d, &host)) {
        Some(domain) => Err(format!(
            "--dashboard-url {host} is under the cookie domain {domain}: the dashboard would \
             receive every learner's session cookie; serve dashboards from another domain"
        )),
        None => Ok(()),
    }
}

pub async fn create_environment(store: &Store, args: CreateEnvironment) -> Result<(), String> {
    let env = environment_of(args)?;
    require_client(store, &env.client_id).await?;
    if !environment::create(store, &env).await.map_err(err)? {
        return Err(format!("an environment {:?} exists already", env.name));
    }
    eprintln!("created environment {:?}", env.name);
    println!("{}", env.name);
    Ok(())
}

pub async fn upgrade_table(store: &Store) -> Result<(), String> {
    let refiled = labgate::migrate::upgrade(store).await.map_err(err)?;
    if refiled.is_empty() {
        eprintln!("nothing to re-file: the table is up to date");
    }
    for (kind, count) in refiled {
        eprintln!("{kind}: {count} re-filed");
    }
    Ok(())
}

pub async fn upgrade_environment(store: &Store, name: &str) -> Result<(), String> {
    let written = environment::upgrade(store, name)
        .await
        .map_err(err)?
        .ok_or_else(|| format!("no environment {name:?}"))?;
    eprintln!("environment {name:?}: {written} slots written");
    Ok(())
}

pub async fn list_environments(store: &Store, client: &str) -> Result<(), String> {
    for v in environment::list(store, client, false).await.map_err(err)? {
        let e = &v.environment;
        let (allocated, available) = (v.allocated(), v.available());
        println!(
            "{}\tworkshop={}\tcapacity={}\tallocated={allocated}\tavailable={available}\tduration={}s\tdashboard={}",
            e.name, e.workshop.name, e.capacity, e.duration_secs, e.dashboard_url
        );
    }
    Ok(())
}

pub async fn domain(store: &Store, client: &str, host: &str, remove: bool) -> Result<(), String> {
    let host = host.trim().to_ascii_lowercase();
    if !config::is_host(&host) {
        return Err(format!("{host:?} is not a host[:port]"));
    }
    if remove {
        if !tenant::unbind_domain(store, &host, client)
            .await
            .map_err(err)?
        {
            return Err(format!("{host} is not bound to client {client:?}"));
        }
        eprintln!("{host} unbound; launches there are refused until it is bound again");
        return Ok(());
    }
    require_client(store, client).await?;
    if !tenant::bind_domain(store, &host, client)
        .await
        .map_err(err)?
    {
        let owner = tenant::domain_tenant(store, &host).await.map_err(err)?;
        return Err(format!("{host} is bound already, to client {owner:?}"));
    }
    eprintln!("{host} bound to client {client}");
    Ok(())
}

pub async fn disable(store: &Store, client: &str, disabled: bool) -> Result<(), String> {
    if !labgate::disable::set_disabled(store, client, disabled)
        .await
        .map_err(err)?
    {
        return Err(format!("no client {client:?}"));
    }
    let state = if disabled { "disabled" } else { "enabled" };
    eprintln!("client {client} {state}");
    Ok(())
}

pub async fn erase_user(store: &Store, client: &str, user: &str) -> Result<(), String> {
    require_client(store, client).await?;
    let erased = labgate::erasure::erase(store, client, user)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "erased: {} items, {} live workshop sessions ended; recorded as erasure {}",
        erased.items, erased.sessions_ended, erased.erasure_id
    );
    Ok(())
}

pub async fn lti_register(
    store: &Store,
    new: &labgate::lti::registration::NewRegistration<'_>,
    api_url: &str,
) -> Result<(), String> {
    require_client(store, new.tenant).await?;
    let api_url = labgate::config::base_url("--api-url", api_url).map_err(|e| e.to_string())?;
    let registration = labgate::lti::registration::register(store, new)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "registered {} (client_id {}) for client {}, deployments {}",
        registration.issuer,
        registration.client_id,
        registration.tenant,
        registration.deployments.join(", ")
    );
    eprintln!("enter these in the LMS (docs/lti.md):");
    println!("login URL (OIDC initiation): {api_url}/lti/login");
    println!("launch / redirect URL:       {api_url}/lti/launch");
    println!("public keyset (JWKS) URL:    {api_url}/.well-known/jwks.json");
    println!("custom parameter per link:   content_id=<the lab's content id>");
    Ok(())
}

/// Lists the LTI tool keys, or applies one rotation step: to the stack's secret
/// (`LABGATE_SIGNING_KEY_SECRET`, through IAM), or, with `LABGATE_SIGNING_KEY` (local), by
/// printing the new value to set.
pub async fn lti_keys(step: Option<labgate::lti::key_rotation::Step>) -> Result<(), String> {
    use labgate::lti::key_rotation;
    let secret = std::env::var("LABGATE_SIGNING_KEY_SECRET")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let local = std::env::var("LABGATE_SIGNING_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let now = labgate::clock::now();
    match (secret, local) {
        (Some(_), Some(_)) => Err("set LABGATE_SIGNING_KEY_SECRET or LABGATE_SIGNING_KEY, not both".into()),
        (None, None) => Err("no key ring: set LABGATE_SIGNING_KEY_SECRET (the stack's SigningKeySecretArn output) or LABGATE_SIGNING_KEY".into()),
        (Some(secret), None) => {
            let sdk = labgate::store::sdk_config().await;
            match step {
                None => {
                    let raw = labgate::master_key::secret_value(&sdk, &secret)
                        .await
                        .map_err(|e| e.to_string())?;
                    print_keys(&raw, now)
                }
                Some(step) => {
                    key_rotation::apply_to_secret(&sdk, &secret, &step, now).await?;
                    eprintln!(
                        "the secret has the rotated ring; deploy with a new SigningKeyGeneration so that the functions read it (docs/lti.md)"
                    );
                    let raw = labgate::master_key::secret_value(&sdk, &secret)
                        .await
                        .map_err(|e| e.to_string())?;
                    print_keys(&raw, now)
                }
            }
        }
        (None, Some(raw)) => match step {
            None => print_keys(&raw, now),
            Some(step) => {
                let rotated = key_rotation::apply(&raw, &step, now)?;
                eprintln!("set LABGATE_SIGNING_KEY to this value (the ring after the step):");
                println!("{rotated}");
                Ok(())
            }
        },
    }
}

fn print_keys(raw: &str, now: i64) -> Result<(), String> {
    for key in labgate::lti::key_rotation::list(raw)? {
        let role = if key.signing { "signing" } else { "published" };
        let since = |t: Option<i64>| t.map_or("-".to_string(), |t| format!("{} s ago", now - t));
        println!(
            "{}\t{role}\tadded {}\tstopped signing {}",
            key.kid,
            since(key.published_at),
            since(key.retired_at)
        );
    }
    Ok(())
}

pub async fn lti_link(
    store: &Store,
    client: &str,
    hours: i64,
    api_url: &str,
) -> Result<(), String> {
    require_client(store, client).await?;
    let api_url = labgate::config::base_url("--api-url", api_url).map_err(|e| e.to_string())?;
    if !(1..=24 * 30).contains(&hours) {
        return Err("--hours: from 1 to 720".into());
    }
    let secret = labgate::lti::dynamic_registration::create_link(store, client, hours)
        .await
        .map_err(err)?;
    eprintln!(
        "a one-time registration link for client {client}, usable for {hours} h: paste it into the LMS's LTI dynamic registration (docs/lti.md)"
    );
    println!(
        "{}",
        labgate::lti::dynamic_registration::link_url(&api_url, &secret)
    );
    Ok(())
}

pub async fn lti_list(store: &Store, client: &str) -> Result<(), String> {
    require_client(store, client).await?;
    for r in labgate::lti::registration::list(store, client)
        .await
        .map_err(err)?
    {
        println!(
            "{}\tclient_id={}\tdeployments={}\tjwks={}",
            r.issuer,
            r.client_id,
            if r.deployments.is_empty() {
                "any".to_string()
            } else {
                r.deployments.join(",")
            },
            r.jwks_url
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dashboard_under_a_cookie_domain_is_refused() {
        let domains = vec!["school.edu".to_string()];
        let refused = super::dashboard_outside("https://lab-s001.dash.school.edu/", &domains);
        assert!(refused.unwrap_err().contains("cookie domain school.edu"));
        assert!(super::dashboard_outside("https://lab-s001.dashboards.example/", &domains).is_ok());
        assert!(super::dashboard_outside("https://lab-s001.school.edu.example/", &domains).is_ok());
    }
}
