//! `llmserve keys new`: a fresh API key, printed once, and the line to put in a tenants file (only
//! the key's SHA-256 hash is stored server-side, so a leaked tenants file leaks no key).

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate a key: prints the key (give it to the tenant; it is not stored) and its hash line.
    New {
        /// Tenant name to show in the printed snippet.
        #[arg(long, default_value = "my-tenant")]
        tenant: String,
    },
    /// Print the hash line of an existing key (read from stdin, one line).
    Hash,
}

pub fn run(args: KeysArgs) -> Result<()> {
    match args.command {
        KeysCommand::New { tenant } => {
            let (key, hash) = llmserve_server::auth::generate_api_key();
            println!("API key (shown once; give it to the tenant, it is not stored anywhere):");
            println!("  {key}");
            println!();
            println!("Tenants file entry:");
            println!("  [[tenants]]");
            println!("  name = \"{tenant}\"");
            println!("  api_keys = [\"{hash}\"]");
        }
        KeysCommand::Hash => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let key = line.trim_end_matches(['\n', '\r']);
            anyhow::ensure!(!key.is_empty(), "no key on stdin");
            println!("{}", llmserve_server::auth::ApiKeyHash::of_key(key));
        }
    }
    Ok(())
}
