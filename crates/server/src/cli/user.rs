//! `kg user`: create accounts, reset passwords, list accounts.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use kg_application::NewUser;
use kg_server::Settings;

use super::{operator_error, operator_services};

#[derive(Subcommand)]
pub(crate) enum UserAction {
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
pub(crate) async fn run(action: UserAction, settings: &Settings) -> anyhow::Result<ExitCode> {
    match action {
        UserAction::Create {
            email,
            role,
            password_stdin,
            password_file,
        } => {
            let password = read_password(password_stdin, password_file)?;
            let services = operator_services(settings).await?;
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
            let services = operator_services(settings).await?;
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
            let services = operator_services(settings).await?;
            list_users(&services.users).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
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
