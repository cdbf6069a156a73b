//! labgate-admin: manage API clients, tokens and content in the labgate table.
//!
//! Uses the same environment as the functions: `LABGATE_TABLE_NAME`, `AWS_REGION`, AWS
//! credentials, and `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local.

use clap::{Args, Parser, Subcommand};
use labgate::api_client::{self, NewClient};
use labgate::store::{Store, schema};
use labgate::{clock, config, content, user};
use std::collections::BTreeMap;
use std::process::ExitCode;

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
    /// An origin (scheme://host[:port]) that caller-supplied return URLs may point to. Repeatable.
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Map an LMS role to a labgate role, as LMS_ROLE=ROLE. Repeatable. Unmapped roles are
    /// dropped; a user with no mapped role is a `learner`.
    #[arg(long = "role", value_parser = parse_role)]
    roles: Vec<(String, String)>,
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

fn origin(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    match url.origin() {
        o @ url::Origin::Tuple(..) if matches!(url.scheme(), "http" | "https") => {
            Ok(o.ascii_serialization())
        }
        _ => Err(format!("{raw:?} is not an http(s) origin")),
    }
}

async fn run(store: &Store, command: Command) -> Result<(), String> {
    let err = |e: labgate::store::StoreError| e.to_string();
    match command {
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
                .map(|o| origin(o))
                .collect::<Result<Vec<_>, _>>()?;
            let new = NewClient {
                name: args.name,
                app_url,
                allowed_origins,
                role_mapping: args.roles.into_iter().collect::<BTreeMap<_, _>>(),
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
        Command::Token(TokenCommand::Issue { client, label }) => {
            let (info, secret) = api_client::issue_token(store, &client, &label)
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
                    "{}\t{}\tcreated={}\t{state}",
                    t.token_id,
                    t.label,
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
