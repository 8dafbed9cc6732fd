//! `hearth`: command-line access to Hearth's secret handling.
#![forbid(unsafe_code)]

mod exit;
mod redact;
mod secret;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Hearth: secrets, tokens and sign-in for local-first apps.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, after_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate and manage secret tokens.
    #[command(subcommand, after_help = exit::HELP)]
    Token(token::TokenCommand),
    /// Keep secrets in the encrypted-file vault.
    ///
    /// The vault is one AES-256-GCM file, authenticated as a whole, unlocked by a key file
    /// (default) or a passphrase. Values go in through standard input only.
    #[command(subcommand, after_help = exit::HELP)]
    Secret(secret::SecretCommand),
    /// Copy standard input to standard output with secrets masked.
    ///
    /// Masks bearer tokens, JWTs, OAuth parameters (access_token, refresh_token, id_token,
    /// client_secret, code_verifier, password, code) in query, form, JSON and log-field form,
    /// and PEM private key blocks. Works line by line, flushing each line, so it can sit
    /// behind `tail -f`.
    #[command(after_help = exit::HELP)]
    Redact,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Token(cmd) => token::run(cmd),
        Command::Redact => redact::run(),
        Command::Secret(cmd) => secret::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("hearth: error: {failure}");
            failure.exit_code()
        }
    }
}
