//! Bearer tokens and roles. A token is 256 random bits shown once; only its SHA-256 is stored.
//! 401 for a missing, unknown or revoked token; 403 for a role that may not do it.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};
use tranche_ledger::store::UserRow;

use super::error::ApiError;
use super::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Preparer,
    Approver,
    Partner,
    Auditor,
    Donor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Preparer,
        Role::Approver,
        Role::Partner,
        Role::Auditor,
        Role::Donor,
    ];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Preparer => "preparer",
            Role::Approver => "approver",
            Role::Partner => "partner",
            Role::Auditor => "auditor",
            Role::Donor => "donor",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
pub struct Rule(pub &'static [Role]);

// Every rule a route or page applies is one of these; `super::access` lists which route and
// page uses which, and that matrix is what ARCHITECTURE.md prints and the matrix test walks.

/// Writers of the journal: accounts, transactions, awards, cohorts, rules, cycles, batches.
pub const FINANCE_WRITE: Rule = Rule(&[Role::Admin, Role::Preparer]);
/// Finance staff: those who prepare, approve and handle bank files (which carry names and
/// accounts).
pub const FINANCE_STAFF: Rule = Rule(&[Role::Admin, Role::Preparer, Role::Approver]);
/// Finance staff and the partner itself (scoped to its own data).
pub const PARTNER_OR_FINANCE: Rule = Rule(&[Role::Admin, Role::Preparer, Role::Partner]);
/// Who signs and submits evidence: the partner (its own statements) and admins.
pub const EVIDENCE: Rule = Rule(&[Role::Admin, Role::Partner]);
/// Who may read programme structure: ledger readers and partners (their own part).
pub const PROGRAMME_READ: Rule = Rule(&[
    Role::Admin,
    Role::Preparer,
    Role::Approver,
    Role::Auditor,
    Role::Partner,
]);
/// Readers of the donor reports (SF-425, budget, disaggregation): ledger readers and donors.
pub const DONOR_READ: Rule = Rule(&[
    Role::Admin,
    Role::Preparer,
    Role::Approver,
    Role::Auditor,
    Role::Donor,
]);
/// Readers of ledger detail (accounts, balances, records).
pub const LEDGER_READ: Rule = Rule(&[Role::Admin, Role::Preparer, Role::Approver, Role::Auditor]);
/// Readers of proofs: anyone signed in, since a proof reveals only hashes.
pub const PROOF_READ: Rule = Rule(&Role::ALL);
/// The whole journal (export, receipts carry records).
pub const AUDIT_READ: Rule = Rule(&[Role::Admin, Role::Auditor]);
pub const ADMIN: Rule = Rule(&[Role::Admin]);
/// Who releases an approved batch to the bank: approvers and admins (the ledger adds: never the
/// batch's preparer or submitter).
pub const RELEASE: Rule = Rule(&[Role::Admin, Role::Approver]);
/// Who approves or rejects a batch: approvers and admins (never on a batch they prepared).
pub const APPROVE: Rule = Rule(&[Role::Admin, Role::Approver]);

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    pub partner: Option<String>,
}

impl Caller {
    pub fn require(&self, rule: Rule) -> Result<(), ApiError> {
        if rule.0.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }

    /// The actor written into records.
    pub fn actor(&self) -> String {
        format!("user:{}", self.name)
    }
}

/// A new bearer token: `tr_` + 256 random bits, base64url.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(format!("tr_{}", B64URL.encode(bytes)))
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn caller_from(user: UserRow) -> Option<Caller> {
    if user.revoked_at.is_some() {
        return None;
    }
    Some(Caller {
        name: user.name,
        role: Role::parse(&user.role)?,
        partner: user.partner,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already authenticated by the role-matrix layer.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 200)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be: Bearer <token>")
            })?;
        let user = state
            .ledger
            .store()
            .user_by_token(&token_hash(token))
            .await?;
        user.and_then(caller_from)
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
    }
}
