//! labgate-admin: manage API clients, tokens and content in the labgate table.
//!
//! Uses the same environment as the functions: `LABGATE_TABLE_NAME`, `AWS_REGION`, AWS
//! credentials, and `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local.

use clap::{Args, Parser, Subcommand};
use labgate::api_client::{self, NewClient};
use labgate::store::{Store, schema};
use labgate::workshop::environment;
use labgate::{clock, config, content, oauth, user};
use std::collections::BTreeMap;
use std::process::ExitCode;

#[path = "labgate-admin/views.rs"]
mod admin_views;

#[derive(Parser)]
#[command(
    name = "labgate-admin",
    version,
    about = "Manage labgate's API clients, tokens and content"
)]
struct Cli {
    /// The DynamoDB table.
    #[arg(
        long,
        env = "LABGATE_TABLE_NAME",
        global = true,
        default_value = "labgate"
    )]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The table itself.
    #[command(subcommand)]
    Table(TableCommand),
    /// API clients: the integration accounts (tenants) that launch labs.
    #[command(subcommand)]
    Client(ClientCommand),
    /// API tokens of a client (`Authorization: Token <token>`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Content (labs) a client can launch.
    #[command(subcommand)]
    Content(ContentCommand),
    /// Users of a client, as launches created them.
    #[command(subcommand)]
    User(UserCommand),
    /// Robot accounts and OAuth clients for the workshop API.
    #[command(subcommand)]
    Robot(RobotCommand),
    /// Workshop environments (the workshop catalog) of a client.
    #[command(subcommand)]
    Environment(EnvironmentCommand),
    /// Workshop sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Launches and their latest progress.
    #[command(subcommand)]
    Launch(LaunchCommand),
    /// Deliveries of lifecycle events to webhooks and analytics URLs.
    #[command(subcommand)]
    Delivery(DeliveryCommand),
}

#[derive(Subcommand)]
enum RobotCommand {
    /// Create the OAuth client and robot account a workshop front end uses; the credentials
    /// are printed once, as KEY=VALUE lines.
    Create {
        #[arg(long)]
        client: String,
        /// The robot's username; `robot@<client id>` if omitted.
        #[arg(long)]
        username: Option<String>,
    },
    /// List a client's robots (never their secrets).
    List {
        #[arg(long)]
        client: String,
    },
}

#[derive(Subcommand)]
enum EnvironmentCommand {
    /// Create a workshop environment.
    Create(CreateEnvironment),
    /// List a client's environments with live counts.
    List {
        #[arg(long)]
        client: String,
    },
}

#[derive(Args)]
struct CreateEnvironment {
    #[arg(long)]
    client: String,
    /// Environment name (letters, digits, `-` and `_`; unique across labgate); sessions are
    /// named <name>-s001, <name>-s002, ...
    #[arg(long)]
    name: String,
    /// Most sessions that may be live at once.
    #[arg(long)]
    capacity: i64,
    /// Dashboard URL of a session; `{session}` is replaced by its name.
    #[arg(long)]
    dashboard_url: String,
    /// Session lifetime in seconds from activation (0: no expiry).
    #[arg(long, default_value_t = 3600)]
    duration: i64,
    /// Longest a session may run with extensions, in seconds (0: no extensions).
    #[arg(long, default_value_t = 0)]
    deadline: i64,
    /// Seconds an extension adds (0: a quarter of the duration, at least 300).
    #[arg(long, default_value_t = 0)]
    overtime: i64,
    /// Live sessions one user may hold across the client's environments (0: no limit).
    #[arg(long, default_value_t = 0)]
    user_limit: i64,
    /// The workshop: JSON with name, title, description, vendor, authors, difficulty, duration,
    /// tags, labels, logo, url (all optional but name).
    #[arg(long)]
    workshop: String,
}

#[derive(Subcommand)]
enum TableCommand {
    /// Create the table (keys, index, TTL) from labgate's definition; an existing table is kept.
    Create,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Create an API client and print its id.
    Create(CreateClient),
    /// List API clients.
    List,
    /// Set the webhook that receives all of a client's lifecycle events, and print its signing
    /// secret (needs LABGATE_SIGNING_KEY).
    Webhook {
        #[arg(long)]
        client: String,
        /// The receiver's URL; omit with --remove.
        #[arg(long, required_unless_present = "remove")]
        url: Option<String>,
        /// Move to a new signing secret (the old one stops verifying).
        #[arg(long)]
        rotate: bool,
        /// Stop sending events to a webhook.
        #[arg(long, conflicts_with = "url")]
        remove: bool,
    },
}

#[derive(Args)]
struct CreateClient {
    /// A name for people.
    #[arg(long)]
    name: String,
    /// Base URL of this client's lab app; launches send the browser to <app-url>/project/<content_id>.
    /// Without it, the app URL of the domain the launch request arrived on.
    #[arg(long)]
    app_url: Option<String>,
    /// An origin (scheme://host[:port]) that caller-supplied return URLs may point to, and whose
    /// pages may read a logged-in user's session (CORS, with the app URL's origin). Repeatable.
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Map an LMS role to a labgate role, as LMS_ROLE=ROLE. Repeatable. Unmapped roles are
    /// dropped; a user with no mapped role is a `learner`.
    #[arg(long = "role", value_parser = parse_role)]
    roles: Vec<(String, String)>,
    /// Refuse launches without `resource_id` (for clients that rely on grading reports).
    #[arg(long)]
    require_resource_id: bool,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a new token; it is printed once and cannot be shown again.
    Issue {
        #[arg(long)]
        client: String,
        /// A note to tell tokens apart (for example where it is deployed).
        #[arg(long, default_value = "")]
        label: String,
        /// What the token may do: launch, grading, admin. Repeatable; default launch.
        #[arg(long = "scope", value_parser = parse_scope)]
        scopes: Vec<api_client::Scope>,
    },
    /// List a client's tokens (ids, labels, state; never the tokens).
    List {
        #[arg(long)]
        client: String,
    },
    /// Revoke a token at once, by the id that `token list` shows.
    Revoke {
        #[arg(long)]
        client: String,
        #[arg(long)]
        token_id: String,
    },
}

#[derive(Subcommand)]
enum ContentCommand {
    /// Create a content item and print its id.
    Create {
        #[arg(long)]
        client: String,
        #[arg(long)]
        title: String,
        /// Its UUID; a new one if omitted.
        #[arg(long)]
        id: Option<String>,
    },
    /// List a client's content.
    List {
        #[arg(long)]
        client: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// List a client's users with their roles, licenses and teams.
    List {
        #[arg(long)]
        client: String,
    },
    /// One user, by external id or email, with teams, licenses, launches and workshop sessions.
    Show {
        #[arg(long)]
        client: String,
        /// The platform's user id (external id).
        #[arg(long, required_unless_present = "email")]
        user: Option<String>,
        #[arg(long, conflicts_with = "user")]
        email: Option<String>,
    },
}

#[derive(Subcommand)]
enum SessionCommand {
    /// A client's workshop sessions (newest retained 36 h after they end), with end reasons.
    List {
        #[arg(long)]
        client: String,
        #[arg(long)]
        environment: Option<String>,
        #[arg(long)]
        user: Option<String>,
        /// pending, running or ended.
        #[arg(long)]
        state: Option<String>,
    },
}

#[derive(Subcommand)]
enum LaunchCommand {
    /// A user's launches with their latest progress.
    List {
        #[arg(long)]
        client: String,
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum DeliveryCommand {
    /// A client's event deliveries, failed ones first.
    List {
        #[arg(long)]
        client: String,
    },
    /// Send an event again to the targets that have not had it (needs LABGATE_SIGNING_KEY).
    Resend {
        #[arg(long)]
        event: String,
    },
}

fn parse_scope(raw: &str) -> Result<api_client::Scope, String> {
    api_client::Scope::parse(raw).ok_or_else(|| format!("{raw:?} is not launch, grading or admin"))
}

fn parse_role(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((lms, role)) if !lms.trim().is_empty() && !role.trim().is_empty() => {
            Ok((lms.trim().to_string(), role.trim().to_string()))
        }
        _ => Err(format!("{raw:?} is not LMS_ROLE=ROLE")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = Store::from_env(cli.table.clone(), None).await;
    match run(&store, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("labgate-admin: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(store: &Store, command: Command) -> Result<(), String> {
    let err = |e: labgate::store::StoreError| e.to_string();
    match command {
        Command::Robot(command) => return robots(store, command).await,
        Command::Session(command) => return admin_views::sessions(store, command).await,
        Command::Launch(command) => return admin_views::launches(store, command).await,
        Command::Delivery(command) => return admin_views::deliveries(store, command).await,
        Command::User(UserCommand::Show {
            client,
            user,
            email,
        }) => return admin_views::user(store, &client, user, email).await,
        Command::Client(ClientCommand::Webhook {
            client,
            url,
            rotate,
            remove,
        }) => return admin_views::webhook(store, &client, url, rotate, remove).await,
        Command::Environment(command) => return environments(store, command).await,
        Command::Table(TableCommand::Create) => {
            let created = schema::create_table(store).await.map_err(err)?;
            let state = if created { "created" } else { "already exists" };
            eprintln!("table {}: {state}", store.table());
        }
        Command::Client(ClientCommand::Create(args)) => {
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
        }
        Command::Client(ClientCommand::List) => {
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
        }
        Command::Token(TokenCommand::Issue {
            client,
            label,
            scopes,
        }) => {
            let scopes = if scopes.is_empty() {
                vec![api_client::Scope::Launch]
            } else {
                scopes
            };
            let (info, secret) = api_client::issue_token(store, &client, &label, &scopes)
                .await
                .map_err(err)?
                .ok_or_else(|| format!("no client {client:?}"))?;
            eprintln!(
                "token {} issued for client {client}; it is shown once, keep it secret:",
                info.token_id
            );
            println!("{}", secret.expose());
        }
        Command::Token(TokenCommand::List { client }) => {
            for t in api_client::list_tokens(store, &client).await.map_err(err)? {
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
        }
        Command::Token(TokenCommand::Revoke { client, token_id }) => {
            if !api_client::revoke_token(store, &client, &token_id)
                .await
                .map_err(err)?
            {
                return Err(format!("no live token {token_id:?} for client {client:?}"));
            }
            eprintln!("token {token_id} revoked");
        }
        Command::Content(ContentCommand::Create { client, title, id }) => {
            if api_client::get_client(store, &client)
                .await
                .map_err(err)?
                .is_none()
            {
                return Err(format!("no client {client:?}"));
            }
            let c = content::create_content(store, &client, id.as_deref(), &title)
                .await
                .map_err(err)?;
            eprintln!("created content {:?}", c.title);
            println!("{}", c.id);
        }
        Command::Content(ContentCommand::List { client }) => {
            for c in content::list_content(store, &client).await.map_err(err)? {
                println!(
                    "{}\t{}\tcreated={}",
                    c.id,
                    c.title,
                    clock::rfc3339(c.created_at)
                );
            }
        }
        Command::User(UserCommand::List { client }) => {
            for u in user::list_users(store, &client).await.map_err(err)? {
                println!(
                    "{}\t{}\temail={}\troles={}\tlicenses={}\tteams={}",
                    u.external_id,
                    u.id,
                    u.email.as_deref().unwrap_or(""),
                    u.roles.join(","),
                    u.licenses.join(","),
                    u.teams.join(",")
                );
            }
        }
    }
    Ok(())
}

async fn robots(store: &Store, command: RobotCommand) -> Result<(), String> {
    match command {
        RobotCommand::Create { client, username } => {
            let username = username.unwrap_or_else(|| format!("robot@{client}"));
            if !oauth::is_valid_username(&username) {
                return Err(format!(
                    "a username is 1 to {} bytes, without control or invisible characters",
                    oauth::MAX_USERNAME_BYTES
                ));
            }
            let created = oauth::create_robot(store, &client, &username)
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
        }
        RobotCommand::List { client } => {
            let robots = oauth::list_robots(store, &client)
                .await
                .map_err(|e| e.to_string())?;
            for r in robots {
                println!(
                    "{}\tclient_id={}\tcreated={}",
                    r.username,
                    r.oauth_client_id,
                    clock::rfc3339(r.created_at)
                );
            }
        }
    }
    Ok(())
}

async fn environments(store: &Store, command: EnvironmentCommand) -> Result<(), String> {
    let err = |e: labgate::store::StoreError| e.to_string();
    match command {
        EnvironmentCommand::Create(args) => {
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
            if args.capacity < 1 || args.capacity > labgate::workshop::slot::MAX_CAPACITY {
                return Err(format!(
                    "--capacity must be between 1 and {}",
                    labgate::workshop::slot::MAX_CAPACITY
                ));
            }
            if [args.duration, args.deadline, args.overtime, args.user_limit]
                .iter()
                .any(|v| *v < 0)
            {
                return Err("durations and limits cannot be negative".into());
            }
            if api_client::get_client(store, &args.client)
                .await
                .map_err(err)?
                .is_none()
            {
                return Err(format!("no client {:?}", args.client));
            }
            let env = environment::Environment {
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
            };
            if !environment::create(store, &env).await.map_err(err)? {
                return Err(format!("an environment {:?} exists already", env.name));
            }
            eprintln!("created environment {:?}", env.name);
            println!("{}", env.name);
        }
        EnvironmentCommand::List { client } => {
            let now = clock::now();
            for v in environment::list(store, &client).await.map_err(err)? {
                let e = &v.environment;
                println!(
                    "{}\tworkshop={}\tcapacity={}\tallocated={}\tavailable={}\tduration={}s\tdashboard={}",
                    e.name,
                    e.workshop.name,
                    e.capacity,
                    v.allocated(now),
                    v.available(now),
                    e.duration_secs,
                    e.dashboard_url
                );
            }
        }
    }
    Ok(())
}
