//! Portable evidence of a fork: two checkpoints signed by the same ledger key that cannot both
//! describe one append-only history. Anyone holding the ledger's key can re-check it with
//! `tranche-verify fork FILE`, with nothing else.
//!
//! Two signed checkpoints prove a fork by themselves when they have the same size and different
//! roots. For different sizes, the evidence also carries the root of the first `size1` leaves of
//! the larger tree and the RFC 9162 consistency proof from that prefix to the larger tree
//! (computed from an export of the larger tree): if the proof holds and that prefix root differs
//! from the smaller checkpoint's root, the larger tree does not extend the smaller one, and the
//! key signed both.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::merkle::{
    consistency_proof, frontier_ids, leaf_hash, nodes_needed, verify_consistency, Frontier, Hash,
    NodeId,
};
use crate::note::{open_checkpoint, Checkpoint, NoteVerifier};

/// The evidence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkEvidence {
    /// `tranche/fork-evidence/v1`.
    pub format: String,
    /// The checkpoint seen first (signed note).
    pub earlier: String,
    /// The checkpoint seen later that does not extend it (signed note).
    pub later: String,
    /// For different sizes: base64 root of the first `min(size)` leaves of the larger tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_root: Option<String>,
    /// For different sizes: base64 hashes of the consistency proof from that prefix to the
    /// larger tree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proof: Vec<String>,
    /// What the verifier saw, for people.
    pub detail: String,
}

pub const FORMAT: &str = "tranche/fork-evidence/v1";

/// What a re-check of fork evidence concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The key signed two inconsistent checkpoints: a fork, proven.
    Proven(String),
    /// The evidence does not prove a fork (the reason).
    NotProven(String),
}

impl ForkEvidence {
    /// Re-checks the evidence with the ledger's key.
    pub fn check(&self, trusted: &NoteVerifier) -> Result<Verdict, String> {
        if self.format != FORMAT {
            return Err(format!("not {FORMAT} evidence"));
        }
        let a = open_checkpoint(&self.earlier, trusted)
            .map_err(|e| format!("the earlier checkpoint is not signed by the key: {e}"))?
            .checkpoint;
        let b = open_checkpoint(&self.later, trusted)
            .map_err(|e| format!("the later checkpoint is not signed by the key: {e}"))?
            .checkpoint;
        let b64 = |h: &Hash| B64.encode(h);
        if a.size == b.size {
            return Ok(if a.root != b.root {
                Verdict::Proven(format!(
                    "the key signed two trees of {} records with different roots ({} and {})",
                    a.size,
                    b64(&a.root),
                    b64(&b.root)
                ))
            } else {
                Verdict::NotProven("the two checkpoints are the same tree".into())
            });
        }
        let (small, large) = if a.size < b.size { (&a, &b) } else { (&b, &a) };
        let Some(prefix) = &self.prefix_root else {
            return Ok(Verdict::NotProven(format!(
                "checkpoints of {} and {} records; without the larger tree's prefix root and a \
                 consistency proof they do not prove a fork (an old checkpoint shown again is a \
                 rollback the verifier refuses, not a proof)",
                small.size, large.size
            )));
        };
        let prefix: Hash = B64
            .decode(prefix)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or("the prefix root is not a base64 hash")?;
        let proof: Vec<Hash> = self
            .proof
            .iter()
            .map(|p| B64.decode(p).ok().and_then(|v| v.try_into().ok()))
            .collect::<Option<_>>()
            .ok_or("a proof hash is not base64")?;
        if small.size == 0 {
            return Ok(Verdict::NotProven(
                "every tree extends the empty one".into(),
            ));
        }
        if verify_consistency(small.size, large.size, &proof, &prefix, &large.root).is_err() {
            return Ok(Verdict::NotProven(
                "the proof does not link the prefix root to the larger tree".into(),
            ));
        }
        Ok(if prefix != small.root {
            Verdict::Proven(format!(
                "the tree of {} records signed by the key begins with records whose root is {}, \
                 but the key also signed a tree of {} records with root {}: the history was \
                 rewritten",
                large.size,
                b64(&prefix),
                small.size,
                b64(&small.root)
            ))
        } else {
            Verdict::NotProven("the larger tree extends the smaller one".into())
        })
    }

    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: not fork evidence: {e}", path.display()))
    }

    pub fn write(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

/// From an export's `records.jsonl`, in one streaming pass: the root of its first `size1`
/// records and the consistency proof from `size1` to `size2` (1 <= size1 < size2 <= the
/// number of lines).
pub fn prefix_proof(records: &Path, size1: u64, size2: u64) -> io::Result<(Hash, Vec<Hash>)> {
    let mut wanted: Vec<NodeId> = nodes_needed(|src| {
        let _ = consistency_proof(size1, size2, src);
    });
    wanted.extend(frontier_ids(size1));
    let mut found: HashMap<NodeId, Hash> = wanted.iter().map(|id| (*id, [0u8; 32])).collect();
    let mut frontier = Frontier::new();
    let file = std::fs::File::open(records)?;
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    while frontier.size() < size2 {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the export has fewer records than the checkpoint",
            ));
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        frontier.push(leaf_hash(&line), |id, h| {
            if let Some(slot) = found.get_mut(&id) {
                *slot = *h;
            }
        });
    }
    let proof = consistency_proof(size1, size2, &mut |id: NodeId| -> Result<Hash, ()> {
        Ok(found[&id])
    })
    .map_err(|_| io::Error::other("the proof could not be built"))?;
    let nodes: Vec<Hash> = frontier_ids(size1).iter().map(|id| found[id]).collect();
    let prefix = Frontier::from_nodes(size1, nodes)
        .map_err(|e| io::Error::other(e.to_string()))?
        .root();
    Ok((prefix, proof))
}

/// Evidence for two checkpoints: same size, or with the prefix proof from `records` (the export
/// of the larger tree) when given.
pub fn evidence(
    earlier: &str,
    later: &str,
    earlier_cp: &Checkpoint,
    later_cp: &Checkpoint,
    records_of_larger: Option<&Path>,
    detail: &str,
) -> ForkEvidence {
    let mut ev = ForkEvidence {
        format: FORMAT.into(),
        earlier: earlier.into(),
        later: later.into(),
        prefix_root: None,
        proof: Vec::new(),
        detail: detail.into(),
    };
    let (small, large) = if earlier_cp.size < later_cp.size {
        (earlier_cp, later_cp)
    } else {
        (later_cp, earlier_cp)
    };
    if small.size > 0 && small.size < large.size {
        if let Some(path) = records_of_larger {
            if let Ok((prefix, proof)) = prefix_proof(path, small.size, large.size) {
                ev.prefix_root = Some(B64.encode(prefix));
                ev.proof = proof.iter().map(|h| B64.encode(h)).collect();
            }
        }
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;
    use crate::note::NoteSigner;

    fn signed(signer: &NoteSigner, size: u64, root: Hash) -> (String, Checkpoint) {
        let cp = Checkpoint::new(signer.name(), size, root);
        (signer.sign(&cp.to_text()).expect("signs"), cp)
    }

    #[test]
    fn a_split_view_and_a_rewritten_history_are_proven_and_growth_is_not() {
        let signer = NoteSigner::from_seed("tranche.test/log", [4; 32]).expect("key");
        let dir = tempfile::tempdir().expect("dir");
        let lines: Vec<String> = (0..10).map(|i| format!("{{\"r\":{i}}}")).collect();
        let path = dir.path().join("records.jsonl");
        std::fs::write(
            &path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .expect("write");
        let mut t = MemoryTree::new();
        for l in &lines {
            t.push(leaf_hash(l.as_bytes()));
        }
        // Growth: the later tree extends the earlier one.
        let (n4, c4) = signed(&signer, 4, t.root_at(4).expect("root"));
        let (n10, c10) = signed(&signer, 10, t.root());
        let ev = evidence(&n4, &n10, &c4, &c10, Some(&path), "test");
        assert!(matches!(
            ev.check(signer.verifier()),
            Ok(Verdict::NotProven(_))
        ));
        // A rewritten history: the earlier checkpoint of 4 records had another root.
        let (f4, fc4) = signed(&signer, 4, [9; 32]);
        let ev = evidence(&f4, &n10, &fc4, &c10, Some(&path), "test");
        assert!(
            matches!(ev.check(signer.verifier()), Ok(Verdict::Proven(_))),
            "{ev:?}"
        );
        // It survives a round trip through a file.
        let file = dir.path().join("fork.json");
        ev.write(&file).expect("write");
        let back = ForkEvidence::read(&file).expect("read");
        assert!(matches!(
            back.check(signer.verifier()),
            Ok(Verdict::Proven(_))
        ));
        // A split view at one size.
        let (s10, sc10) = signed(&signer, 10, [7; 32]);
        let ev = evidence(&n10, &s10, &c10, &sc10, None, "test");
        assert!(matches!(
            ev.check(signer.verifier()),
            Ok(Verdict::Proven(_))
        ));
        // Evidence signed by another key proves nothing about this one.
        let other = NoteSigner::from_seed("tranche.test/log", [5; 32]).expect("key");
        assert!(ev.check(other.verifier()).is_err());
        // A forged prefix root does not pass the proof.
        let mut forged = evidence(&f4, &n10, &fc4, &c10, Some(&path), "test");
        forged.prefix_root = Some(B64.encode([1u8; 32]));
        assert!(matches!(
            forged.check(signer.verifier()),
            Ok(Verdict::NotProven(_))
        ));
    }
}
