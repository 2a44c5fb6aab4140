//! Watching a ledger over time: the checkpoint kept from an earlier visit (a state file holding
//! the signed note as it was received), and the rules that a newer checkpoint must satisfy to
//! extend it. A ledger that shows a smaller tree, another root at the same size, or a tree that
//! no consistency proof links to the old one has forked its history (or shows different views to
//! different readers): that is reported as the rule `fork`.
//!
//! No network here: the caller fetches the checkpoint and hands in a function that fetches the
//! consistency proof, so the same rules serve any transport.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use crate::merkle::{empty_root, verify_consistency, Hash};
use crate::note::{open_checkpoint, Checkpoint, NoteVerifier, MAX_NOTE_BYTES};
use crate::verify::{rule, Failure, VerifyError};

/// How a newer checkpoint relates to the one seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// The same tree: same size, same root.
    Unchanged,
    /// A larger tree, and the consistency proof shows the old one is its prefix.
    Extended { from_size: u64 },
}

/// Why [`check_extends`] did not conclude that the new checkpoint extends the old one.
#[derive(Debug, thiserror::Error)]
pub enum ExtendError<E> {
    /// The ledger's history forked: the failure has rule `fork`.
    #[error("{0}")]
    Fork(Failure),
    /// The consistency proof could not be obtained, so nothing was decided.
    #[error("could not obtain the consistency proof: {0}")]
    Proof(E),
}

fn fork(detail: String) -> Failure {
    Failure {
        seq: None,
        rule: rule::FORK,
        detail,
    }
}

/// Checks that `new` (verified now) extends `old` (verified on an earlier visit): the tree never
/// shrinks, the same size keeps the same root, and a larger tree comes with an RFC 9162
/// consistency proof from `old` to `new`, obtained by calling `consistency_proof(old.size,
/// new.size)` only in that case.
pub fn check_extends<E>(
    old: &Checkpoint,
    new: &Checkpoint,
    consistency_proof: impl FnOnce(u64, u64) -> Result<Vec<Hash>, E>,
) -> Result<Growth, ExtendError<E>> {
    let b64 = |h: &Hash| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(h)
    };
    if new.size < old.size {
        return Err(ExtendError::Fork(fork(format!(
            "the ledger now signs a tree of {} records, smaller than the tree of {} records it \
             signed before: records were removed, or this is another view of the log",
            new.size, old.size
        ))));
    }
    if new.size == old.size {
        if new.root != old.root {
            return Err(ExtendError::Fork(fork(format!(
                "the ledger signed two different trees of {} records: root {} before, {} now",
                new.size,
                b64(&old.root),
                b64(&new.root)
            ))));
        }
        return Ok(Growth::Unchanged);
    }
    if old.size == 0 {
        // Every tree extends the empty one; there is no proof to ask for (RFC 9162 defines none).
        if old.root != empty_root() {
            return Err(ExtendError::Fork(fork(
                "the earlier checkpoint of 0 records does not have the empty tree's root".into(),
            )));
        }
        return Ok(Growth::Extended { from_size: 0 });
    }
    let proof = consistency_proof(old.size, new.size).map_err(ExtendError::Proof)?;
    verify_consistency(old.size, new.size, &proof, &old.root, &new.root).map_err(|e| {
        ExtendError::Fork(fork(format!(
            "the tree of {} records does not extend the tree of {} records signed before \
             (root {}): the consistency proof fails ({e}), so records before seq {} were changed, \
             or this is another view of the log",
            new.size,
            old.size,
            b64(&old.root),
            old.size
        )))
    })?;
    Ok(Growth::Extended {
        from_size: old.size,
    })
}

/// A checkpoint kept from an earlier visit: the signed note as received, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub note: String,
    pub checkpoint: Checkpoint,
}

/// Reads the state file: `None` when it does not exist yet or is empty (a first visit). The
/// note is opened again with the trusted key, so a state file that was edited, or that belongs
/// to another ledger, is refused rather than trusted.
pub fn read_state(path: &Path, trusted: &NoteVerifier) -> Result<Option<State>, VerifyError> {
    let read_error = |detail: String| VerifyError::CouldNotRead {
        what: path.display().to_string(),
        detail,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e.to_string())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_NOTE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(e.to_string()))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.len() > MAX_NOTE_BYTES {
        return Err(read_error(
            "the state file is too large for a checkpoint".into(),
        ));
    }
    let note = String::from_utf8(bytes)
        .map_err(|_| read_error("the state file is not UTF-8 text".into()))?;
    let opened = open_checkpoint(&note, trusted).map_err(|e| {
        read_error(format!(
            "the state file does not hold a checkpoint signed by the trusted key {}: {e}",
            trusted.to_vkey()
        ))
    })?;
    Ok(Some(State {
        note,
        checkpoint: opened.checkpoint,
    }))
}

/// Replaces the state file with `note`, atomically: the note is written and synced to a
/// temporary file beside it, which is then renamed over the old one, so a crash leaves either
/// the old checkpoint or the new one, never a mix.
pub fn write_state(path: &Path, note: &str) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the state path names no file")
    })?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(note.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the temporary file is ours and useless now.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable where the platform allows syncing a directory.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, MemoryTree};
    use crate::synth;

    fn tree(size: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for line in synth::lines(size) {
            t.push(leaf_hash(&line));
        }
        t
    }

    fn checkpoint(t: &MemoryTree, size: u64) -> Checkpoint {
        Checkpoint::new(
            synth::ORIGIN,
            size,
            t.root_at(size).expect("size <= tree size"),
        )
    }

    fn honest(t: &MemoryTree) -> impl FnOnce(u64, u64) -> Result<Vec<Hash>, String> + '_ {
        move |a, b| t.consistency_proof(a, b).map_err(|e| e.to_string())
    }

    fn never(_: u64, _: u64) -> Result<Vec<Hash>, String> {
        panic!("no proof is needed here")
    }

    #[test]
    fn a_grown_tree_extends_the_old_one_with_a_proof() {
        let t = tree(50);
        for old in [1, 7, 8, 31, 49] {
            let got = check_extends(&checkpoint(&t, old), &checkpoint(&t, 50), honest(&t));
            assert_eq!(got.ok(), Some(Growth::Extended { from_size: old }));
        }
    }

    #[test]
    fn the_same_tree_needs_no_proof() {
        let t = tree(9);
        let got = check_extends(&checkpoint(&t, 9), &checkpoint(&t, 9), never);
        assert_eq!(got.ok(), Some(Growth::Unchanged));
        let empty = Checkpoint::new(synth::ORIGIN, 0, empty_root());
        let got = check_extends(&empty, &checkpoint(&t, 9), never);
        assert_eq!(got.ok(), Some(Growth::Extended { from_size: 0 }));
    }

    fn fork_detail<E: std::fmt::Debug>(r: Result<Growth, ExtendError<E>>) -> String {
        match r {
            Err(ExtendError::Fork(f)) => {
                assert_eq!(f.rule, "fork");
                assert_eq!(f.seq, None);
                f.detail
            }
            other => panic!("expected a fork, got {other:?}"),
        }
    }

    #[test]
    fn a_smaller_tree_is_a_fork() {
        let t = tree(20);
        let d = fork_detail(check_extends(
            &checkpoint(&t, 20),
            &checkpoint(&t, 19),
            never,
        ));
        assert!(d.contains("smaller"), "{d}");
    }

    #[test]
    fn another_root_at_the_same_size_is_a_fork() {
        let t = tree(20);
        let mut other = checkpoint(&t, 20);
        other.root[0] ^= 1;
        let d = fork_detail(check_extends(&checkpoint(&t, 20), &other, never));
        assert!(d.contains("two different trees of 20 records"), "{d}");
    }

    #[test]
    fn a_larger_tree_with_another_history_is_a_fork() {
        // The split view: the same first records but one, then more records; every proof the
        // forked tree can give is checked against the root signed before.
        let t = tree(20);
        let mut forked = MemoryTree::new();
        for (i, line) in synth::lines(30).enumerate() {
            let mut line = line;
            if i == 12 {
                line.push(b' ');
            }
            forked.push(leaf_hash(&line));
        }
        let d = fork_detail(check_extends(
            &checkpoint(&t, 20),
            &checkpoint(&forked, 30),
            honest(&forked),
        ));
        assert!(d.contains("records before seq 20 were changed"), "{d}");
        // A proof that is simply wrong is a fork too.
        let d = fork_detail(check_extends(
            &checkpoint(&t, 20),
            &checkpoint(&tree(30), 30),
            |_, _| Ok::<_, String>(vec![[0u8; 32]; 3]),
        ));
        assert!(d.contains("consistency proof fails"), "{d}");
    }

    #[test]
    fn a_proof_that_cannot_be_fetched_decides_nothing() {
        let t = tree(20);
        let got = check_extends(&checkpoint(&t, 10), &checkpoint(&t, 20), |_, _| {
            Err("connection refused")
        });
        assert!(matches!(got, Err(ExtendError::Proof("connection refused"))));
    }

    #[test]
    fn the_state_file_round_trips_and_refuses_what_the_key_did_not_sign() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("ledger.state");
        let key = synth::signer();
        assert_eq!(read_state(&path, key.verifier()).ok(), Some(None));
        std::fs::write(&path, "").expect("writable");
        assert_eq!(read_state(&path, key.verifier()).ok(), Some(None));

        let t = tree(5);
        let note = key
            .sign(&checkpoint(&t, 5).to_text())
            .expect("a valid note text");
        write_state(&path, &note).expect("written");
        let state = read_state(&path, key.verifier())
            .expect("readable")
            .expect("present");
        assert_eq!(state.note, note);
        assert_eq!(state.checkpoint, checkpoint(&t, 5));
        // Only the state file itself is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("listable")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("ledger.state")]);

        std::fs::write(&path, note.replacen("\n5\n", "\n6\n", 1)).expect("writable");
        assert!(matches!(
            read_state(&path, key.verifier()),
            Err(VerifyError::CouldNotRead { .. })
        ));
    }
}
