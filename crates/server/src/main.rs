//! `kg`: serve the API, migrate the schema, manage users.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use kg_application::NewUser;
use kg_persistence::{DatabaseSettings, MigrationCommand, connect_for_migrations, migrate};
use kg_server::{
    Application, Settings, build_services, ensure_sqlite_dir, open_database, prepare_schema,
    telemetry,
};

#[derive(Parser)]
#[command(name = "kg", version, about = "kg: a knowledge-graph service")]
struct Cli {
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
        action: MigrateAction,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API keys.
    ApiKey {
        #[command(subcommand)]
        action: ApiKeyAction,
    },
    /// Check the settings and print every problem found.
    CheckConfig,
    /// Switch maintenance mode; every instance obeys within 2 seconds.
    Maintenance {
        #[command(subcommand)]
        action: MaintenanceAction,
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

#[derive(Subcommand)]
enum ApiKeyAction {
    /// Create a key acting for an existing user; prints the secret once.
    Create {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// editor or viewer.
        #[arg(long)]
        role: String,
        /// The email of the user the key acts for.
        #[arg(long)]
        owner: String,
        /// Days until the key stops working; no expiry when absent.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke a key at once.
    Revoke {
        /// The key's id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum MaintenanceAction {
    /// Refuse the API (or, with --read-only, only writes) with 503.
    On {
        /// Keep reads working; refuse writes only.
        #[arg(long)]
        read_only: bool,
        /// The email of the admin the change is recorded as.
        #[arg(long = "as")]
        actor: String,
    },
    /// Serve normally again.
    Off {
        /// The email of the admin the change is recorded as.
        #[arg(long = "as")]
        actor: String,
    },
    /// Print the mode, when it was set and by whom.
    Status,
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the newest migrations.
    Down {
        /// How many to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List applied and pending migrations; exits 1 while any is pending.
    Status,
    /// Drop everything and migrate from scratch. Destroys all data.
    Fresh {
        /// Required, to confirm that all data may be destroyed.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user. The password is read from a terminal prompt, from
    /// standard input (--password-stdin) or from a file (--password-file),
    /// never from an argument.
    Create {
        #[arg(long)]
        email: String,
        /// admin, editor or viewer.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "password_file")]
        password_stdin: bool,
        /// Read the password from the first line of this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Set a user's password (a reset, such as for a locked-out admin). The
    /// password is read as for `create`. Every session of the user ends and
    /// a login lock-out is lifted.
    SetPassword {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "password_file")]
        password_stdin: bool,
        /// Read the password from the first line of this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List every user: id, email, role and whether the account is active.
    List,
}

fn read_password(stdin: bool, file: Option<PathBuf>) -> anyhow::Result<String> {
    let text = if let Some(path) = file {
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
    } else if stdin || !std::io::stdin().is_terminal() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        text
    } else {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again =
            rpassword::prompt_password("Repeat password: ").context("reading the password")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    };
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[expect(clippy::print_stdout, reason = "the command line prints its results")]
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format, &settings.log_filter);
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings.clone()).await?;
            tracing::info!(bind = %settings.bind, port = app.port(), env = ?settings.env, "kg is serving");
            app.serve().await.context("serving")?;
            tracing::info!("kg stopped");
        }
        Command::Migrate { action } => {
            let command = match action {
                MigrateAction::Up => MigrationCommand::Up,
                MigrateAction::Down { steps } => MigrationCommand::Down(steps),
                MigrateAction::Status => MigrationCommand::Status,
                MigrateAction::Fresh { yes: true } => MigrationCommand::Fresh,
                MigrateAction::Fresh { yes: false } => {
                    bail!("`kg migrate fresh` destroys all data; add --yes to confirm")
                }
            };
            ensure_sqlite_dir(&settings)?;
            let conn =
                connect_for_migrations(&DatabaseSettings::new(settings.database_url.clone()))
                    .await?;
            let report = migrate(&conn, command).await?;
            println!("{report}");
            if command == MigrationCommand::Status && !report.is_current() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::User { action } => match action {
            UserAction::Create {
                email,
                role,
                password_stdin,
                password_file,
            } => {
                let password = read_password(password_stdin, password_file)?;
                let services = operator_services(&settings).await?;
                let user = services
                    .users
                    .create_by_operator(NewUser {
                        email,
                        role,
                        password,
                    })
                    .await
                    .map_err(operator_error)?;
                println!("created {} user {} ({})", user.role, user.email, user.id);
            }
            UserAction::SetPassword {
                email,
                password_stdin,
                password_file,
            } => {
                let password = read_password(password_stdin, password_file)?;
                let services = operator_services(&settings).await?;
                let user = services
                    .auth
                    .reset_password_by_operator(&email, password)
                    .await
                    .map_err(operator_error)?;
                println!(
                    "set the password of {} ({}); their sessions have ended",
                    user.email, user.id
                );
            }
            UserAction::List => {
                let services = operator_services(&settings).await?;
                list_users(&services.users).await?;
            }
        },
        Command::ApiKey { action } => {
            prepare_schema(&settings).await?;
            let db = open_database(&settings).await?;
            let services = build_services(&settings, &db)?;
            match action {
                ApiKeyAction::Create {
                    name,
                    role,
                    owner,
                    expires_in_days,
                } => {
                    let user = active_user(&db, &owner, "--owner").await?;
                    let expires_at = expires_in_days
                        .map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
                    let created = services
                        .api_keys
                        .create_by_operator(
                            user.id,
                            kg_application::NewApiKey {
                                name,
                                role,
                                expires_at,
                            },
                        )
                        .await
                        .map_err(operator_error)?;
                    println!(
                        "created {} key {} ({}) for {}",
                        created.key.role,
                        created.key.name.as_str(),
                        created.key.id,
                        user.email
                    );
                    println!("secret (shown once): {}", created.secret);
                }
                ApiKeyAction::Revoke { id } => {
                    let id = id
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--id must be a UUID"))?;
                    services
                        .api_keys
                        .revoke_by_operator(id)
                        .await
                        .map_err(operator_error)?;
                    println!("revoked {id}");
                }
            }
        }
        Command::Maintenance { action } => {
            prepare_schema(&settings).await?;
            let db = open_database(&settings).await?;
            let services = build_services(&settings, &db)?;
            let set = |actor: String, mode| (actor, mode);
            let change = match action {
                MaintenanceAction::On { read_only, actor } => Some(set(
                    actor,
                    if read_only {
                        kg_application::ServiceMode::ReadOnly
                    } else {
                        kg_application::ServiceMode::Maintenance
                    },
                )),
                MaintenanceAction::Off { actor } => {
                    Some(set(actor, kg_application::ServiceMode::Off))
                }
                MaintenanceAction::Status => None,
            };
            let state = match change {
                Some((actor, mode)) => {
                    let user = active_user(&db, &actor, "--as").await?;
                    services
                        .maintenance
                        .set(&operator_context(user.id, user.role), mode)
                        .await
                        .map_err(operator_error)?
                }
                None => services
                    .maintenance
                    .status()
                    .await
                    .map_err(operator_error)?,
            };
            match (state.changed_at, state.changed_by) {
                (Some(at), Some(by)) => println!("mode {} (set {at} by {by})", state.mode.as_str()),
                _ => println!("mode {} (never set)", state.mode.as_str()),
            }
        }
        Command::Export { output } => {
            prepare_schema(&settings).await?;
            let db = open_database(&settings).await?;
            let entities = kg_persistence::SeaOrmEntityRepository::new(db.clone());
            let relationships = kg_persistence::SeaOrmRelationshipRepository::new(db.clone());
            let graph = kg_server::transfer::Graph {
                entities: &entities,
                relationships: &relationships,
            };
            let (entities, relationships) = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut out = std::io::BufWriter::new(file);
                    kg_server::transfer::export(&graph, &mut out).await?
                }
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    kg_server::transfer::export(&graph, &mut out).await?
                }
            };
            eprintln!("exported {entities} entities and {relationships} relationships");
        }
        Command::Import {
            file,
            actor,
            from_line,
        } => {
            prepare_schema(&settings).await?;
            let db = open_database(&settings).await?;
            let services = build_services(&settings, &db)?;
            let user = active_user(&db, &actor, "--as").await?;
            let ctx = operator_context(user.id, user.role);
            let size = std::fs::metadata(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .len()
                .max(1);
            let input = std::io::BufReader::new(
                std::fs::File::open(&file)
                    .with_context(|| format!("opening {}", file.display()))?,
            );
            let show = std::io::stderr().is_terminal();
            let summary =
                kg_server::transfer::import(&services, &ctx, input, from_line, |bytes, s| {
                    if show {
                        eprint!(
                            "\r{:>3}% line {}: {} created, {} updated, {} unchanged, {} failed ",
                            bytes.saturating_mul(100) / size,
                            s.lines,
                            s.created,
                            s.updated,
                            s.unchanged,
                            s.failed.len()
                        );
                    }
                })
                .await?;
            if show {
                eprintln!();
            }
            println!("{summary}");
            if !summary.failed.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::CheckConfig => {
            if let kg_server::SecretSource::File(_) = &settings.jwt_secret {
                kg_server::load_secret(&settings.jwt_secret)?;
            }
            println!(
                "configuration is valid ({:?}, database {})",
                settings.env,
                redact_url(&settings.database_url)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The use cases an operator command runs, over a current schema.
async fn operator_services(settings: &Settings) -> anyhow::Result<kg_server::Services> {
    prepare_schema(settings).await?;
    let db = open_database(settings).await?;
    build_services(settings, &db)
}

/// Prints every user, one per line, page by page.
#[expect(clippy::print_stdout, reason = "the command line prints its results")]
async fn list_users(users: &kg_application::UserService) -> anyhow::Result<()> {
    let mut after = None;
    println!("id\temail\trole\tactive\tcreated_at");
    loop {
        let page = users
            .list_by_operator(kg_application::PageRequest {
                limit: kg_application::Limit::default(),
                after,
            })
            .await
            .map_err(operator_error)?;
        for u in &page.items {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                u.id,
                u.email,
                u.role,
                if u.is_active { "yes" } else { "no" },
                u.created_at.to_rfc3339()
            );
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

/// The active user with this email, for an operator command's `flag`.
async fn active_user(
    db: &kg_persistence::DatabaseConnection,
    email: &str,
    flag: &str,
) -> anyhow::Result<kg_domain::User> {
    let users = kg_persistence::SeaOrmUserRepository::new(db.clone());
    let email = kg_domain::Email::parse(email).map_err(|e| anyhow::anyhow!("{flag} {e}"))?;
    kg_application::UserRepository::find_by_email(&users, &email)
        .await
        .map_err(|e| anyhow::anyhow!("looking up {email}: {e}"))?
        .filter(|u| u.is_active)
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

/// A URL without its password, for output.
fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) if rest.contains(':') => {
            let user = rest.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is reported.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: .env: {err}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    match actix_web::rt::System::new().block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
