//! `hearth`: command-line access to Hearth's secret handling.
#![forbid(unsafe_code)]

mod apikey;
mod audit;
mod exit;
mod gate;
mod login;
mod net;
mod oidc;
#[cfg(unix)]
mod prompt;
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
    /// Print the pin (`sha256/…` of the public key) of a certificate file, or of every
    /// certificate a server presents (without trusting it).
    #[command(after_help = exit::HELP)]
    Pin(net::PinArgs),
    /// Fetch a URL over HTTPS with Hearth's policy and print the body.
    ///
    /// HTTPS only (http:// to loopback with --allow-loopback-http), TLS 1.2 or newer, the OS
    /// roots or --ca, and --pin for the URL's host. A refusal exits 4 with one line saying why.
    #[command(after_help = exit::HELP)]
    Fetch(net::FetchArgs),
    /// Print a PKCE code verifier and its S256 challenge as JSON (or the challenge of
    /// --verifier).
    #[command(after_help = exit::HELP)]
    Pkce(login::PkceArgs),
    /// Print a fresh OAuth `state` value (256 bits, URL-safe).
    #[command(after_help = exit::HELP)]
    State,
    /// Sign in with OAuth 2.0 authorization code + PKCE through a loopback redirect, and
    /// keep the tokens in secure storage.
    ///
    /// Prints the URL to open (and opens a browser when there is a desktop), waits for the
    /// browser to come back to http://127.0.0.1:PORT/callback, exchanges the code over
    /// HTTPS, and stores the tokens under --store (the fallback chain by default; see
    /// `hearth secret backends`). Tokens are never printed.
    #[command(after_help = exit::HELP)]
    Login(Box<login::LoginArgs>),
    /// Sign out: revoke the tokens (RFC 7009) at the provider `hearth login --issuer`
    /// recorded (unless --local-only), then remove every secret under --store, whatever
    /// the provider answered; print the provider's logout page when it has one. Tokens
    /// are never printed.
    #[command(after_help = exit::HELP)]
    Logout(Box<oidc::LogoutArgs>),
    /// Keep secrets in the encrypted-file vault.
    ///
    /// The vault is one AES-256-GCM file, authenticated as a whole, unlocked by a key file
    /// (default) or a passphrase. Values go in through standard input only.
    #[command(subcommand, after_help = exit::HELP)]
    Secret(secret::SecretCommand),
    /// Issue, list, verify and revoke API keys for a local server (a registry file that
    /// holds only SHA-256 hashes, 0600).
    ///
    /// Keys look like hth_<8-char id><32-char secret><6-char checksum>: a typo is caught
    /// without a lookup, and secret scanners can find leaked ones. Roles: administrator,
    /// curator, consumer, or custom names.
    #[command(subcommand, name = "apikey", after_help = exit::HELP)]
    ApiKey(apikey::ApiKeyCommand),
    /// Guard a local server: a reverse proxy in front of --upstream that admits only
    /// what its config allows (Host and Origin, API keys with roles, JWTs, a session
    /// token, per-path permissions and rate limits), strips the credentials it checked,
    /// adds X-Hearth-Caller, passes WebSockets through and audits every denial.
    ///
    /// Defaults fail closed: with no --config every request gets 401. Stops on SIGINT or
    /// SIGTERM, letting requests in flight finish.
    #[command(after_help = exit::HELP)]
    Gate(Box<gate::GateArgs>),
    /// Check or read a tamper-evident audit log (hearth-audit's HMAC-chained JSON Lines).
    #[command(subcommand, after_help = exit::HELP)]
    Audit(audit::AuditCommand),
    /// Copy standard input to standard output with secrets masked.
    ///
    /// Masks vendor tokens (GitHub, GitLab, Slack, AWS, Google, OpenAI, Anthropic, Stripe,
    /// npm, PyPI, Hugging Face and more), Hearth API keys, JWTs, PEM private key blocks, the
    /// values of sensitive names (password, token, secret, key, ... in k=v, JSON, YAML, XML,
    /// env and --option form), Bearer and Authorization credentials, URL passwords,
    /// `curl -u` passwords and cookies. Other bytes pass through unchanged. Works line by
    /// line, flushing each line, so it can sit behind `tail -f`.
    #[command(after_help = exit::HELP)]
    Redact(redact::RedactArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Token(cmd) => token::run(cmd),
        Command::Redact(args) => redact::run(&args),
        Command::Secret(cmd) => secret::run(cmd),
        Command::Pin(args) => net::pin(args),
        Command::Pkce(args) => login::pkce(args),
        Command::State => login::state(),
        Command::Login(args) => login::login(*args),
        Command::Logout(args) => oidc::logout(*args),
        Command::Fetch(args) => net::fetch(args),
        Command::ApiKey(cmd) => apikey::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Gate(args) => gate::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("hearth: error: {failure}");
            failure.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
