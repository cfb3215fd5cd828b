//! `kg`: serve the API, migrate the schema, manage users, keys, the
//! maintenance switch, and bulk files. Each command group is a module of
//! [`cli`].

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc rather than the system's allocator: glibc's keeps what a large
/// request or a password hash freed in per-thread arenas, so the process
/// stayed at its high-water mark; mimalloc gives freed pages back (ADR 31).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is reported.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: .env: {err}");
        return ExitCode::from(2);
    }
    let cli = cli::Cli::parse();
    match actix_web::rt::System::new().block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
