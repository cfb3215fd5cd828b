//! `kg maintenance`: switch maintenance mode on every instance.

use std::process::ExitCode;

use clap::Subcommand;
use kg_application::ServiceMode;
use kg_server::Settings;

use super::{active_user, operator_context, operator_error, operator_services};

#[derive(Subcommand)]
pub(crate) enum MaintenanceAction {
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

#[expect(clippy::print_stdout, reason = "the command line prints its results")]
pub(crate) async fn run(
    action: MaintenanceAction,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let services = operator_services(settings).await?;
    let change = match action {
        MaintenanceAction::On { read_only, actor } => Some((
            actor,
            if read_only {
                ServiceMode::ReadOnly
            } else {
                ServiceMode::Maintenance
            },
        )),
        MaintenanceAction::Off { actor } => Some((actor, ServiceMode::Off)),
        MaintenanceAction::Status => None,
    };
    let state = match change {
        Some((actor, mode)) => {
            let user = active_user(&services, &actor, "--as").await?;
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
    Ok(ExitCode::SUCCESS)
}
