//! Group commit bookkeeping shared by both backends: which requests are replays of an earlier
//! idempotent request, which reuse a key with another body, and which are planned; then the
//! outcome of each and the idempotency rows to store in the same transaction as the records.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tranche_audit::merkle::Hash;
use tranche_audit::Code;
use tranche_audit::Invalid;

use super::{Result, StoreError};
use crate::domain::{Command, Group, GroupResult, SignedCheckpoint};

/// The most requests one group commit takes (a limit on everything).
pub const MAX_GROUP_REQUESTS: usize = 256;

/// An `Idempotency-Key` with the hash of the request it came with, scoped to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub user: String,
    pub key: String,
    pub request_hash: Hash,
}

/// One caller's batch in a group commit.
#[derive(Debug, Clone)]
pub struct GroupRequest {
    pub actor: String,
    pub commands: Vec<Command>,
    pub idempotency: Option<IdempotencyKey>,
}

/// What an accepted batch got; stored with its idempotency key so a retry gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub first_seq: u64,
    pub count: u64,
    pub checkpoint_size: u64,
    /// Lowercase hex of the checkpoint's root hash.
    pub checkpoint_root: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    /// Written now.
    Appended(Outcome),
    /// Refused: nothing of it was written.
    Refused(Invalid),
    /// The same key and the same request were seen before: nothing written again.
    Replayed(Outcome),
    /// The same key came with a different request.
    KeyReused,
}

/// An idempotency row to store: (user, key, request hash, outcome JSON).
pub(crate) type IdempotencyRow = (String, String, Vec<u8>, String);

/// Requests sorted into those to plan and those already answered.
#[derive(Debug)]
pub(crate) struct Pending {
    pub to_plan: Vec<usize>,
    outcomes: Vec<Option<GroupOutcome>>,
    /// (request, earlier request with the same key in this group, same body?)
    duplicates: Vec<(usize, usize, bool)>,
}

/// Sorts `requests`, given the stored (request hash, outcome) of each request's key, if any.
pub(crate) fn before(
    requests: &[GroupRequest],
    existing: &[Option<(Vec<u8>, String)>],
) -> Result<Pending> {
    let mut outcomes = vec![None; requests.len()];
    let mut to_plan = Vec::with_capacity(requests.len());
    let mut duplicates = Vec::new();
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        if let Some(k) = &r.idempotency {
            if let Some((hash, outcome)) = &existing[i] {
                outcomes[i] = Some(if hash.as_slice() == k.request_hash.as_slice() {
                    let o: Outcome = serde_json::from_str(outcome)
                        .map_err(|e| StoreError::Corrupt(format!("idempotency outcome: {e}")))?;
                    GroupOutcome::Replayed(o)
                } else {
                    GroupOutcome::KeyReused
                });
                continue;
            }
            if let Some(&j) = first.get(&(k.user.as_str(), k.key.as_str())) {
                let same = requests[j]
                    .idempotency
                    .as_ref()
                    .is_some_and(|e| e.request_hash == k.request_hash);
                duplicates.push((i, j, same));
                continue;
            }
            first.insert((k.user.as_str(), k.key.as_str()), i);
        }
        to_plan.push(i);
    }
    Ok(Pending {
        to_plan,
        outcomes,
        duplicates,
    })
}

/// The commands to load state for, and the groups to plan, of the requests still to plan.
pub(crate) fn to_plan<'a>(
    requests: &'a [GroupRequest],
    pending: &Pending,
) -> (Vec<Command>, Vec<Group<'a>>) {
    let commands = pending
        .to_plan
        .iter()
        .flat_map(|&i| requests[i].commands.iter().cloned())
        .collect();
    let groups = pending
        .to_plan
        .iter()
        .map(|&i| Group {
            actor: &requests[i].actor,
            commands: &requests[i].commands,
        })
        .collect();
    (commands, groups)
}

/// The outcome of every request, and the idempotency rows (user, key, hash, outcome JSON) to
/// insert with the records.
pub(crate) fn after(
    requests: &[GroupRequest],
    mut pending: Pending,
    results: Vec<GroupResult>,
    checkpoint: Option<&SignedCheckpoint>,
) -> (Vec<GroupOutcome>, Vec<IdempotencyRow>) {
    let mut rows = Vec::new();
    for (&i, result) in pending.to_plan.iter().zip(results) {
        let outcome = match (result, checkpoint) {
            (Ok(range), Some(cp)) => {
                let o = Outcome {
                    first_seq: range.start,
                    count: range.end - range.start,
                    checkpoint_size: cp.size,
                    checkpoint_root: hex::encode(cp.root),
                };
                if let Some(k) = &requests[i].idempotency {
                    let json = serde_json::to_string(&o).expect("an outcome always serializes");
                    rows.push((k.user.clone(), k.key.clone(), k.request_hash.to_vec(), json));
                }
                GroupOutcome::Appended(o)
            }
            (Ok(_), None) => GroupOutcome::Refused(Invalid::new(
                "",
                Code::Internal,
                "an accepted batch had no checkpoint",
            )),
            (Err(inv), _) => GroupOutcome::Refused(inv),
        };
        pending.outcomes[i] = Some(outcome);
    }
    for (i, j, same) in pending.duplicates {
        let earlier = pending.outcomes[j].clone();
        pending.outcomes[i] = Some(match (earlier, same) {
            (_, false) => GroupOutcome::KeyReused,
            (Some(GroupOutcome::Appended(o)), true) => GroupOutcome::Replayed(o),
            (Some(other), true) => other,
            (None, true) => GroupOutcome::KeyReused,
        });
    }
    let outcomes = pending
        .outcomes
        .into_iter()
        .map(|o| o.unwrap_or(GroupOutcome::KeyReused))
        .collect();
    (outcomes, rows)
}
