//! The `kg` command line: one module per command group, and what they share.

mod api_key;
mod maintenance;
mod migrate;
mod transfer;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kg_server::{
    Application, Services, Settings, build_services, open_database, prepare_schema, telemetry,
};

#[derive(Parser)]
#[command(name = "kg", version, about = "kg: a knowledge-graph service")]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API.
    Serve,
    /// Change or inspect the database schema.
    Migrate {
        #[command(subcommand)]
        action: migrate::MigrateAction,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        action: user::UserAction,
    },
    /// Manage API keys.
    ApiKey {
        #[command(subcommand)]
        action: api_key::ApiKeyAction,
    },
    /// Check the settings and print every problem found.
    CheckConfig,
    /// Switch maintenance mode; every instance obeys within 2 seconds.
    Maintenance {
        #[command(subcommand)]
        action: maintenance::MaintenanceAction,
    },
    /// Write the live graph as JSON Lines (entities, then relationships).
    Export {
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Load a JSON Lines file (such as an export) in batches, keeping ids;
    /// exits 1 when any line was refused.
    Import {
        /// The file to read.
        file: PathBuf,
        /// The email of the editor or admin the changes are recorded as.
        #[arg(long = "as")]
        actor: String,
        /// Start at this line (1-based), to resume an interrupted import.
        #[arg(long, default_value_t = 1)]
        from_line: u64,
    },
}

/// Runs a parsed command line.
#[expect(clippy::print_stdout, reason = "the command line prints its results")]
pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format, &settings.log_filter);
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings.clone()).await?;
            tracing::info!(bind = %settings.bind, port = app.port(), env = ?settings.env, "kg is serving");
            app.serve().await.context("serving")?;
            tracing::info!("kg stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { action } => migrate::run(action, &settings).await,
        Command::User { action } => user::run(action, &settings).await,
        Command::ApiKey { action } => api_key::run(action, &settings).await,
        Command::Maintenance { action } => maintenance::run(action, &settings).await,
        Command::Export { output } => transfer::export(output, &settings).await,
        Command::Import {
            file,
            actor,
            from_line,
        } => transfer::import(&file, &actor, from_line, &settings).await,
        Command::CheckConfig => {
            if let kg_server::SecretSource::File(_) = &settings.jwt_secret {
                kg_server::load_secret(&settings.jwt_secret)?;
            }
            println!(
                "configuration is valid ({:?}, database {})",
                settings.env,
                redact_url(&settings.database_url)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The use cases an operator command runs, over a current schema.
async fn operator_services(settings: &Settings) -> anyhow::Result<Services> {
    prepare_schema(settings).await?;
    let db = open_database(settings).await?;
    build_services(settings, &db)
}

/// The active user with this email, for an operator command's `flag`.
async fn active_user(
    services: &Services,
    email: &str,
    flag: &str,
) -> anyhow::Result<kg_domain::User> {
    let email = kg_domain::Email::parse(email).map_err(|e| anyhow::anyhow!("{flag} {e}"))?;
    services
        .users
        .find_active_by_operator(&email)
        .await
        .map_err(|e| anyhow::anyhow!("looking up {email}: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("no active user has the email {email}"))
}

/// The context of an operator command acting as `user`.
const fn operator_context(
    user: kg_domain::UserId,
    role: kg_domain::Role,
) -> kg_application::RequestContext {
    kg_application::RequestContext {
        actor: kg_application::Actor {
            user_id: user,
            role,
            session: None,
            api_key: None,
        },
        request_id: None,
    }
}

/// An application error as the command line reports it: validation
/// problems field by field, anything else with its cause.
fn operator_error(err: kg_application::AppError) -> anyhow::Error {
    match err {
        kg_application::AppError::Validation(v) => anyhow::anyhow!("{v}"),
        other => anyhow::Error::new(other),
    }
}

/// A URL without its secrets, for output: the password of its user, and
/// the values of query parameters that may hold one (`password=`,
/// `sslpassword=`, …). A URL that does not parse is not shown at all.
fn redact_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return "(not shown: not a URL)".to_owned();
    };
    if url.password().is_some() && url.set_password(Some("***")).is_err() {
        return "(not shown: its password cannot be hidden)".to_owned();
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_secret_parameter(&name) {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Whether a connection parameter's value may be a secret.
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key"]
        .iter()
        .any(|word| name.contains(word))
}
