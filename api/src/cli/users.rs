//! `tranche users`: API users and their bearer tokens.

use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;

use super::common::{open, Global};

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Create a user; its bearer token is printed once and stored only as a hash.
    Add {
        name: String,
        /// admin, preparer, approver, partner, auditor or donor.
        #[arg(long)]
        role: String,
        /// The partner a partner user acts for.
        #[arg(long)]
        partner: Option<String>,
    },
    /// List users.
    List,
    /// Revoke a user's token.
    Revoke { name: String },
}

pub async fn run(g: &Global, cmd: UsersCmd) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    match cmd {
        UsersCmd::Add {
            name,
            role,
            partner,
        } => match crate::server::routes::new_user(&ledger, &name, &role, partner.as_deref()).await
        {
            Ok((user, token)) => {
                println!(
                    "created {} ({}). Its token is shown only now:",
                    user.name, user.role
                );
                println!("{token}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!(
                    "refused: {}{} ({})",
                    e.field.map(|f| format!("{f}: ")).unwrap_or_default(),
                    e.detail,
                    e.code
                );
                eprintln!("nothing was written");
                Ok(ExitCode::from(3))
            }
        },
        UsersCmd::List => {
            println!(
                "{:<24} {:<10} {:<16} {:<28} revoked",
                "name", "role", "partner", "created"
            );
            for u in ledger.store().users().await? {
                println!(
                    "{:<24} {:<10} {:<16} {:<28} {}",
                    u.name,
                    u.role,
                    u.partner.unwrap_or_default(),
                    u.created_at,
                    u.revoked_at.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        UsersCmd::Revoke { name } => {
            let now = tranche_audit::record::format_time(Utc::now());
            match ledger.store().revoke_user(&name, &now).await {
                Ok(true) => {
                    println!("revoked {name}");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(false) => {
                    eprintln!("refused: name: no active user named {name:?} (unknown_user)");
                    Ok(ExitCode::from(3))
                }
                Err(tranche_ledger::StoreError::Invalid(i)) => {
                    eprintln!("refused: {}: {} ({})", i.field, i.detail, i.code);
                    Ok(ExitCode::from(3))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
