//! `kg api-key`: create and revoke API keys.

use std::process::ExitCode;

use clap::Subcommand;
use kg_server::Settings;

use super::{active_user, operator_error, operator_services};

#[derive(Subcommand)]
pub(crate) enum ApiKeyAction {
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

#[expect(clippy::print_stdout, reason = "the command line prints its results")]
pub(crate) async fn run(action: ApiKeyAction, settings: &Settings) -> anyhow::Result<ExitCode> {
    let services = operator_services(settings).await?;
    match action {
        ApiKeyAction::Create {
            name,
            role,
            owner,
            expires_in_days,
        } => {
            let user = active_user(&services, &owner, "--owner").await?;
            let expires_at =
                expires_in_days.map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
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
    Ok(ExitCode::SUCCESS)
}
