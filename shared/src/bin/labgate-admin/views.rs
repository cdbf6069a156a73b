//! labgate-admin's views of what happened: users, sessions, launches, event deliveries.

use super::{DeliveryCommand, LaunchCommand, SessionCommand};
use labgate::events::delivery::{self, Deliverer, Policy};
use labgate::events::signing;
use labgate::master_key::{self, KeyRing};
use labgate::store::{Store, StoreError};
use labgate::workshop::environment::educates_time;
use labgate::workshop::session;
use labgate::{api_client, clock, config, launch, user};

fn err(e: StoreError) -> String {
    e.to_string()
}

/// The master key ring: from LABGATE_SIGNING_KEY, or from the Secrets Manager secret that
/// LABGATE_SIGNING_KEY_SECRET names (the stack's `SigningKeySecretArn` output), read with the
/// operator's own AWS credentials.
async fn signing_keys() -> Result<KeyRing, String> {
    match master_key::source(|name| std::env::var(name).ok()).map_err(|e| e.to_string())? {
        Some(master_key::Source::Value(ring)) => Ok(ring),
        Some(master_key::Source::Secret(secret)) => {
            let sdk = labgate::store::sdk_config().await;
            master_key::from_secret(&sdk, &secret)
                .await
                .map_err(|e| e.to_string())
        }
        None => Err(
            "the master key is needed: set LABGATE_SIGNING_KEY (local), or \
                     LABGATE_SIGNING_KEY_SECRET to the stack's SigningKeySecretArn output"
                .to_string(),
        ),
    }
}

pub async fn webhook(
    store: &Store,
    client: &str,
    url: Option<String>,
    rotate: Option<i64>,
    remove: bool,
) -> Result<(), String> {
    if remove {
        delivery::remove_webhook(store, client).await.map_err(err)?;
        eprintln!("webhook removed");
        return Ok(());
    }
    let keys = signing_keys().await?;
    let url = url.ok_or("--url is required")?;
    config::base_url("--url", &url).map_err(|e| e.to_string())?;
    let secret = match rotate {
        Some(overlap_secs) => delivery::Secret::Rotate { overlap_secs },
        None => delivery::Secret::Keep,
    };
    let now = clock::now();
    let version = delivery::set_webhook(store, client, &url, secret, &keys.current().id, now)
        .await
        .map_err(err)?;
    let shown = version.secret(&keys, client).ok_or_else(|| {
        format!(
            "webhook set, but its secret comes from master key {:?}, which the key ring no \
             longer holds: rotate it (--rotate)",
            version
                .key_id
                .as_deref()
                .unwrap_or(master_key::DEFAULT_KEY_ID)
        )
    })?;
    eprintln!("webhook set; events are signed (Standard Webhooks) with this secret:");
    println!("{}", signing::display_secret(&shown));
    if let Some(overlap) = rotate.filter(|o| *o > 0 && version.number > 1) {
        let until = clock::rfc3339(now + overlap);
        eprintln!("the previous secret also signs every delivery until {until}");
    }
    Ok(())
}

/// Each client's webhook secret versions and the master keys they come from.
pub async fn webhook_keys(store: &Store) -> Result<(), String> {
    let now = clock::now();
    println!("CLIENT\tSECRET\tMASTER KEY\tPREVIOUS (UNTIL ROTATION OVERLAP ENDS)");
    for client in api_client::list_clients(store).await.map_err(err)? {
        let Some(hook) = delivery::webhook(store, &client.id, now)
            .await
            .map_err(err)?
        else {
            println!("{}\t-\t-\t-", client.id);
            continue;
        };
        let key = |v: &delivery::SecretVersion| {
            v.key_id
                .clone()
                .unwrap_or_else(|| master_key::DEFAULT_KEY_ID.to_string())
        };
        let previous = hook
            .previous
            .as_ref()
            .map_or("-".to_string(), |p| format!("v{} {}", p.number, key(p)));
        println!(
            "{}\tv{}\t{}\t{}",
            client.id,
            hook.version.number,
            key(&hook.version),
            previous
        );
    }
    Ok(())
}

// Long: one user's whole record, section by section, as an operator reads it.
pub async fn user(
    store: &Store,
    client: &str,
    external_id: Option<String>,
    email: Option<String>,
) -> Result<(), String> {
    // By id: the user's key; by email: users by email (`gsi3`). Never the tenant's whole list.
    let found: Vec<user::User> = match (&external_id, &email) {
        (Some(id), _) => user::get(store, client, id)
            .await
            .map_err(err)?
            .into_iter()
            .collect(),
        (None, Some(email)) => user::find_by_email(store, client, email)
            .await
            .map_err(err)?,
        (None, None) => Vec::new(),
    };
    if found.is_empty() {
        return Err("no such user".into());
    }
    for u in found {
        println!("user {} (labgate id {})", u.external_id, u.id);
        println!("  email: {}", u.email.as_deref().unwrap_or("-"));
        let names = [u.given_name.as_deref(), u.family_name.as_deref()];
        println!(
            "  name: {}",
            names
                .iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!(
            "  roles: {} (LMS: {})",
            u.roles.join(", "),
            u.lms_roles.join(", ")
        );
        println!("  licenses: {}", u.licenses.join(", "));
        println!("  teams: {}", u.teams.join(", "));
        for l in launch::list_for_user(store, client, &u.external_id)
            .await
            .map_err(err)?
        {
            println!("  launch {}", launch_line(&l, "  "));
        }
        for s in session::list_for_user(store, client, &u.external_id)
            .await
            .map_err(err)?
        {
            println!(
                "  session {}  {}  {}",
                s.name,
                s.state,
                s.end_reason.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

pub async fn sessions(store: &Store, command: SessionCommand) -> Result<(), String> {
    let SessionCommand::List {
        client,
        environment,
        user,
        state,
    } = command;
    let now = clock::now();
    // With a user: the user's records (live and retained 36 h); without: the tenant's live
    // sessions (live sessions by tenant).
    let listed = match &user {
        Some(user) => session::list_for_user(store, &client, user).await,
        None => session::list(store, &client, environment.as_deref()).await,
    };
    let listed = listed.map_err(err)?.into_iter().filter(|s| {
        environment
            .as_ref()
            .is_none_or(|environment| environment == &s.environment)
    });
    for s in listed {
        // A session past its time is shown as it is, whether or not the reaper has been by.
        let shown = if s.state != session::ENDED && !s.is_live(now) {
            "ended"
        } else {
            s.state.as_str()
        };
        if user.as_ref().is_some_and(|u| u != &s.user)
            || state.as_ref().is_some_and(|st| st != shown)
        {
            continue;
        }
        println!(
            "{}\t{}\tuser={}\tstate={}\tstarted={}\tuntil={}\treason={}",
            s.name,
            s.environment,
            s.user,
            shown,
            s.started.map(educates_time).unwrap_or_default(),
            educates_time(s.until),
            s.end_reason.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

pub async fn launches(store: &Store, command: LaunchCommand) -> Result<(), String> {
    let LaunchCommand::List { client, user } = command;
    for l in launch::list_for_user(store, &client, &user)
        .await
        .map_err(err)?
    {
        println!("{}", launch_line(&l, "\t"));
    }
    Ok(())
}

pub async fn deliveries(store: &Store, command: DeliveryCommand) -> Result<(), String> {
    match command {
        DeliveryCommand::List { client } => {
            for d in delivery::list(store, &client).await.map_err(err)? {
                println!(
                    "{}\t{}\t{}\tattempts={}\t{}\t{}\t{}",
                    d.status,
                    d.event_id,
                    d.target,
                    d.attempts,
                    clock::rfc3339(d.updated_at),
                    d.last_error.as_deref().unwrap_or(""),
                    d.url
                );
            }
        }
        DeliveryCommand::Resend { event } => {
            let stored = delivery::event(store, &event)
                .await
                .map_err(err)?
                .ok_or_else(|| format!("no event {event:?} (events are kept 7 days)"))?;
            let deliverer = Deliverer::new(signing_keys().await?, Policy::default())
                .map_err(|e| e.to_string())?;
            let outcomes = deliverer.deliver(store, &stored).await.map_err(err)?;
            if outcomes.is_empty() {
                eprintln!("nothing to send: every target has the event");
            }
            for d in outcomes {
                println!(
                    "{}\t{}\tattempts={}\t{}",
                    d.status, d.target, d.attempts, d.url
                );
            }
        }
    }
    Ok(())
}

/// A launch on one line, its fields separated by `sep`.
fn launch_line(l: &launch::Launch, sep: &str) -> String {
    let resource = l.resource_id.as_deref().unwrap_or("-");
    let progress = l
        .progress
        .as_ref()
        .map_or("-".to_string(), |p| p.to_string());
    let (id, created, content) = (&l.id, &l.created_at, &l.content_id);
    format!(
        "{id}{sep}{created}{sep}content={content}{sep}resource={resource}{sep}progress={progress}"
    )
}
