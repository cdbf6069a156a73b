//! labgate-admin: manage API clients, tokens and content in the labgate table.
//!
//! Uses the same environment as the functions: `LABGATE_TABLE_NAME`, `AWS_REGION`, AWS
//! credentials, and `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local.

use clap::{Args, Parser, Subcommand};
use labgate::api_client;
use labgate::store::Store;
use std::process::ExitCode;

#[path = "labgate-admin/commands.rs"]
mod commands;
#[path = "labgate-admin/views.rs"]
mod views;

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
    /// LTI 1.3 platforms (LMSs) that launch a client's labs (docs/lti.md).
    #[command(subcommand)]
    Lti(LtiCommand),
}

#[derive(Subcommand)]
enum LtiCommand {
    /// Register an LMS (its issuer and the client_id it gave labgate) for a client, and print
    /// the tool's side to enter in the LMS. Again with the same issuer and client_id: updates it.
    Register {
        #[arg(long)]
        client: String,
        /// The platform's issuer (`iss` of its id_tokens), e.g. https://canvas.instructure.com.
        #[arg(long)]
        issuer: String,
        /// The client_id the platform gave labgate.
        #[arg(long = "client-id")]
        client_id: String,
        /// A deployment id that may launch (repeatable).
        #[arg(long = "deployment", required = true)]
        deployments: Vec<String>,
        /// The platform's OIDC authorization endpoint.
        #[arg(long = "auth-url")]
        auth_url: String,
        /// The platform's OAuth2 token endpoint.
        #[arg(long = "token-url")]
        token_url: String,
        /// The platform's public keys (JWKS).
        #[arg(long = "jwks-url")]
        jwks_url: String,
        /// labgate's public API URL (the stack's ApiUrl), to print the tool's URLs.
        #[arg(long = "api-url", env = "LABGATE_API_URL")]
        api_url: String,
    },
    /// List a client's LTI registrations.
    List {
        #[arg(long)]
        client: String,
    },
    /// The LTI tool's signing keys in the master key ring: list them, or rotate them one step
    /// at a time (add, promote, retire; docs/lti.md, "The tool's keys").
    Keys {
        #[command(subcommand)]
        step: Option<KeyStep>,
    },
    /// Make a one-time LTI Dynamic Registration link for a client: the LMS administrator
    /// pastes it into the LMS, which registers labgate itself (docs/lti.md).
    Link {
        #[arg(long)]
        client: String,
        /// How long the link stays usable.
        #[arg(long, default_value_t = labgate::lti::dynamic_registration::DEFAULT_LINK_HOURS)]
        hours: i64,
        /// labgate's public API URL (the stack's ApiUrl), the link's origin.
        #[arg(long = "api-url", env = "LABGATE_API_URL")]
        api_url: String,
    },
}

#[derive(Subcommand)]
enum KeyStep {
    /// Add a key, published but not signing (the first key of an empty list signs at once).
    Add {
        /// Its key id (`kid`): 1 to 64 letters, digits, '.', '_' or '-'.
        #[arg(long)]
        kid: String,
        /// A file with the key as base64 PKCS#1 DER (`openssl genpkey -algorithm RSA -pkeyopt
        /// rsa_keygen_bits:2048 | openssl rsa -traditional -outform DER | base64 -w0`).
        #[arg(long = "der-file")]
        der_file: std::path::PathBuf,
    },
    /// Make a published key the signing one (10 minutes after it was added, at the earliest).
    Promote {
        #[arg(long)]
        kid: String,
    },
    /// Remove a key that no longer signs (10 minutes after it stopped, at the earliest).
    Retire {
        #[arg(long)]
        kid: String,
    },
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
    /// Give a robot a new password (or, with --secret, its OAuth client a new secret), printed
    /// once; the old one keeps working for --overlap seconds (default 0: it stops at once).
    Rotate {
        #[arg(long)]
        client: String,
        #[arg(long)]
        username: String,
        /// Rotate the OAuth client's secret instead of the password.
        #[arg(long)]
        secret: bool,
        #[arg(long, default_value_t = 0)]
        overlap: i64,
    },
    /// Remove a robot and its OAuth client; its access and refresh tokens stop working at once.
    Remove {
        #[arg(long)]
        client: String,
        #[arg(long)]
        username: String,
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
    /// Give an environment created before the free-slot index its slots and recount its
    /// sessions (once, after `table upgrade`).
    Upgrade {
        #[arg(long)]
        name: String,
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
    /// Once, after the deploy that adds index gsi3 (and once it is ACTIVE): file the items
    /// written before it where they are queried now (docs/data-model.md).
    Upgrade,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Create an API client and print its id.
    Create(CreateClient),
    /// List API clients.
    List,
    /// Which master key each client's webhook secrets are derived from: a key can leave the
    /// ring once no client lists it (docs/operations.md, rotating the master key).
    Keys,
    /// Disable a client: its API tokens, robots, bearer tokens, web sessions and unused links are
    /// refused at once (`client enable` undoes it).
    Disable {
        #[arg(long)]
        client: String,
    },
    /// Enable a disabled client again.
    Enable {
        #[arg(long)]
        client: String,
    },
    /// Bind a white-label API host (an `api_url` host of LABGATE_DOMAINS) to this client: launches
    /// there are this client's only. A host belongs to one client; `--remove` unbinds it.
    Domain {
        #[arg(long)]
        client: String,
        /// The API host, as in `api_url` (`api.labs.school.edu`, with `:port` if not 443).
        #[arg(long)]
        host: String,
        #[arg(long)]
        remove: bool,
    },
    /// Set the webhook that receives all of a client's lifecycle events, and print its signing
    /// secret (needs the master key: LABGATE_SIGNING_KEY, or LABGATE_SIGNING_KEY_SECRET naming
    /// the stack's secret, read through IAM).
    Webhook {
        #[arg(long)]
        client: String,
        /// The receiver's URL; omit with --remove.
        #[arg(long, required_unless_present = "remove")]
        url: Option<String>,
        /// Move to a new signing secret. The old one keeps signing every delivery (a second
        /// `v1,` signature) for --overlap seconds, so the receiver can switch without a gap.
        #[arg(long)]
        rotate: bool,
        /// Seconds the rotated-out secret keeps signing (0: it stops at once).
        #[arg(long, requires = "rotate", default_value_t = labgate::events::delivery::DEFAULT_OVERLAP_SECS)]
        overlap: i64,
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
    /// Erase a user's personal data everywhere (profile, memberships, launches, sessions, web
    /// sessions, events naming them); live workshop sessions end with reason `erased`.
    Erase {
        #[arg(long)]
        client: String,
        /// The platform's user id (external id).
        #[arg(long)]
        user: String,
    },
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
    /// A client's live workshop sessions; with --user, that user's sessions, ended ones too
    /// (kept 36 h after they end) with end reasons.
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
    /// A client's dead letters: event deliveries that failed for good (resend them by event).
    List {
        #[arg(long)]
        client: String,
    },
    /// Send an event again to the targets that have not had it (needs the master key, as
    /// `client webhook` does).
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

/// One command, one function: those that write in `commands.rs`, those that show in `views.rs`.
// Long: one arm per command, nothing else.
async fn run(store: &Store, command: Command) -> Result<(), String> {
    use ClientCommand as Client;
    use ContentCommand as Content;
    use EnvironmentCommand as Env;
    match command {
        Command::Table(TableCommand::Create) => commands::create_table(store).await,
        Command::Table(TableCommand::Upgrade) => commands::upgrade_table(store).await,
        Command::Client(Client::Create(args)) => commands::create_client(store, args).await,
        Command::Client(Client::List) => commands::list_clients(store).await,
        Command::Client(Client::Disable { client }) => {
            commands::disable(store, &client, true).await
        }
        Command::Client(Client::Enable { client }) => {
            commands::disable(store, &client, false).await
        }
        Command::Client(Client::Domain {
            client,
            host,
            remove,
        }) => commands::domain(store, &client, &host, remove).await,
        Command::Client(Client::Keys) => views::webhook_keys(store).await,
        Command::Client(Client::Webhook {
            client,
            url,
            rotate,
            overlap,
            remove,
        }) => views::webhook(store, &client, url, rotate.then_some(overlap), remove).await,
        Command::Token(command) => tokens(store, command).await,
        Command::Content(Content::Create { client, title, id }) => {
            commands::create_content(store, &client, id.as_deref(), &title).await
        }
        Command::Content(Content::List { client }) => commands::list_content(store, &client).await,
        Command::User(UserCommand::List { client }) => commands::list_users(store, &client).await,
        Command::User(UserCommand::Erase { client, user }) => {
            commands::erase_user(store, &client, &user).await
        }
        Command::User(UserCommand::Show {
            client,
            user,
            email,
        }) => views::user(store, &client, user, email).await,
        Command::Robot(RobotCommand::Create { client, username }) => {
            commands::create_robot(store, &client, username).await
        }
        Command::Robot(RobotCommand::List { client }) => {
            commands::list_robots(store, &client).await
        }
        Command::Robot(RobotCommand::Rotate {
            client,
            username,
            secret,
            overlap,
        }) => commands::rotate_robot(store, &client, &username, secret, overlap).await,
        Command::Robot(RobotCommand::Remove { client, username }) => {
            commands::remove_robot(store, &client, &username).await
        }
        Command::Environment(Env::Create(args)) => commands::create_environment(store, args).await,
        Command::Environment(Env::List { client }) => {
            commands::list_environments(store, &client).await
        }
        Command::Environment(Env::Upgrade { name }) => {
            commands::upgrade_environment(store, &name).await
        }
        Command::Session(command) => views::sessions(store, command).await,
        Command::Launch(command) => views::launches(store, command).await,
        Command::Delivery(command) => views::deliveries(store, command).await,
        Command::Lti(LtiCommand::Register {
            client,
            issuer,
            client_id,
            deployments,
            auth_url,
            token_url,
            jwks_url,
            api_url,
        }) => {
            let new = labgate::lti::registration::NewRegistration {
                issuer: &issuer,
                client_id: &client_id,
                tenant: &client,
                deployments: &deployments,
                auth_url: &auth_url,
                token_url: &token_url,
                jwks_url: &jwks_url,
            };
            commands::lti_register(store, &new, &api_url).await
        }
        Command::Lti(LtiCommand::List { client }) => commands::lti_list(store, &client).await,
        Command::Lti(LtiCommand::Keys { step }) => commands::lti_keys(step_of(step)?).await,
        Command::Lti(LtiCommand::Link {
            client,
            hours,
            api_url,
        }) => commands::lti_link(store, &client, hours, &api_url).await,
    }
}

async fn tokens(store: &Store, command: TokenCommand) -> Result<(), String> {
    match command {
        TokenCommand::Issue {
            client,
            label,
            scopes,
        } => commands::issue_token(store, &client, &label, scopes).await,
        TokenCommand::List { client } => commands::list_tokens(store, &client).await,
        TokenCommand::Revoke { client, token_id } => {
            commands::revoke_token(store, &client, &token_id).await
        }
    }
}

/// The rotation step a `lti keys` command asks for (`None`: list the keys).
fn step_of(step: Option<KeyStep>) -> Result<Option<labgate::lti::key_rotation::Step>, String> {
    use labgate::lti::key_rotation::Step;
    Ok(match step {
        None => None,
        Some(KeyStep::Add { kid, der_file }) => {
            let der_base64 = std::fs::read_to_string(&der_file)
                .map_err(|e| format!("--der-file {}: {e}", der_file.display()))?;
            Some(Step::Add { kid, der_base64 })
        }
        Some(KeyStep::Promote { kid }) => Some(Step::Promote { kid }),
        Some(KeyStep::Retire { kid }) => Some(Step::Retire { kid }),
    })
}
