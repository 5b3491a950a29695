//! `penstock tokens create|list|revoke`: the bearer tokens `penstock server --auth tokens`
//! accepts. Works on the home's database directly, so it also works while the server runs.

use crate::cli::{open_store, TokensCommand};
use crate::Outcome;
use penstock_store::TokenError;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

/// The longest token name accepted.
const MAX_NAME: usize = 128;

/// Runs a `penstock tokens` subcommand.
pub async fn tokens_command(home: &Path, cmd: TokensCommand) -> Outcome {
    let store = match open_store(home).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    let mut out = std::io::stdout().lock();
    match cmd {
        TokensCommand::Create { name, namespaces } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME {
                eprintln!("penstock: --name must have 1 to {MAX_NAME} characters");
                return Outcome::InvalidInput;
            }
            if let Some(bad) = namespaces
                .iter()
                .find(|n| n.trim().is_empty() || n.contains(','))
            {
                eprintln!(
                    "penstock: --namespace '{bad}' is not a namespace name (non-empty, no commas)"
                );
                return Outcome::InvalidInput;
            }
            let grant: Option<BTreeSet<String>> = (!namespaces.is_empty())
                .then(|| namespaces.iter().map(|n| n.trim().to_string()).collect());
            match store.create_token(name, grant.as_ref()).await {
                Ok((_, token)) => {
                    let _ = writeln!(out, "{token}");
                    eprintln!(
                        "penstock: token '{name}' created for {}; it is shown only now, keep it \
                         secret (kfp.Client(host, existing_token=...))",
                        match &grant {
                            None => "every namespace".to_string(),
                            Some(g) => format!(
                                "namespace(s) {}",
                                g.iter().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        }
                    );
                    Outcome::Success
                }
                Err(e @ TokenError::NameTaken(_)) => {
                    eprintln!("penstock: {e}");
                    Outcome::InvalidInput
                }
                Err(e) => {
                    eprintln!("penstock: {e}");
                    Outcome::Failure
                }
            }
        }
        TokensCommand::List => match store.list_tokens().await {
            Ok(tokens) => {
                let _ = writeln!(
                    out,
                    "{:<36}  {:<24}  {:<8}  {:<20}  NAMESPACES",
                    "TOKEN ID", "NAME", "STATE", "CREATED"
                );
                for t in tokens {
                    let created = t.created_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
                    let _ = writeln!(
                        out,
                        "{:<36}  {:<24}  {:<8}  {:<20}  {}",
                        t.token_id,
                        t.name,
                        if t.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                        created,
                        match t.namespaces {
                            None => "*".to_string(),
                            Some(set) => set.into_iter().collect::<Vec<_>>().join(","),
                        }
                    );
                }
                Outcome::Success
            }
            Err(e) => {
                eprintln!("penstock: {e}");
                Outcome::Failure
            }
        },
        TokensCommand::Revoke { name } => match store.revoke_token(&name).await {
            Ok(t) => {
                let _ = writeln!(out, "revoked token '{}' ({})", t.name, t.token_id);
                Outcome::Success
            }
            Err(e @ TokenError::NotFound(_)) => {
                eprintln!("penstock: {e}");
                Outcome::InvalidInput
            }
            Err(e) => {
                eprintln!("penstock: {e}");
                Outcome::Failure
            }
        },
    }
}
