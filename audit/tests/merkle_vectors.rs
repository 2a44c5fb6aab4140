//! Known answers for the Merkle tree and proofs: every inclusion and consistency vector of the
//! transparency-dev Merkle library (happy paths and each broken variant), and the RFC 6962 test
//! tree, whose proofs our own generator must reproduce.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;

use tranche_audit::merkle::{leaf_hash, verify_consistency, verify_inclusion, MemoryTree};

const ROOT_OF_EIGHT: &str = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";

/// The RFC 6962 test leaves (hex), as used by every Certificate Transparency implementation.
const RFC6962_LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

fn testdata(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/merkle/testdata")
        .join(kind)
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
}

struct Vector {
    path: PathBuf,
    json: Value,
}

impl Vector {
    fn all(kind: &str) -> Vec<Vector> {
        let mut paths = Vec::new();
        json_files(&testdata(kind), &mut paths);
        paths
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).expect("a readable vector");
                let json = serde_json::from_str(&text).expect("a JSON vector");
                Vector { path, json }
            })
            .collect()
    }

    fn want_err(&self) -> bool {
        self.json["wantErr"]
            .as_bool()
            .unwrap_or_else(|| panic!("{}: wantErr must be a boolean", self.path.display()))
    }

    fn size(&self, field: &str) -> Result<u64, String> {
        self.json[field]
            .as_u64()
            .ok_or_else(|| format!("{field} is not a non-negative integer"))
    }

    /// A hash as bytes, whatever its length; text that is not base64 is an error.
    fn hash(&self, field: &str) -> Result<Vec<u8>, String> {
        let text = self.json[field]
            .as_str()
            .ok_or_else(|| format!("{field} is not a string"))?;
        B64.decode(text).map_err(|e| format!("{field}: {e}"))
    }

    /// `proof` may be null (no hashes).
    fn proof(&self) -> Result<Vec<Vec<u8>>, String> {
        match &self.json["proof"] {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|h| {
                    let text = h.as_str().ok_or("a proof hash is not a string")?;
                    B64.decode(text).map_err(|e| format!("proof: {e}"))
                })
                .collect(),
            _ => Err("proof is neither an array nor null".into()),
        }
    }

    fn check_inclusion(&self) -> Result<(), String> {
        let proof = self.proof()?;
        verify_inclusion(
            self.size("leafIdx")?,
            self.size("treeSize")?,
            &self.hash("leafHash")?,
            &proof,
            &self.hash("root")?,
        )
        .map_err(|e| e.to_string())
    }

    fn check_consistency(&self) -> Result<(), String> {
        let proof = self.proof()?;
        verify_consistency(
            self.size("size1")?,
            self.size("size2")?,
            &proof,
            &self.hash("root1")?,
            &self.hash("root2")?,
        )
        .map_err(|e| e.to_string())
    }
}

fn rfc6962_tree() -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in RFC6962_LEAVES {
        tree.push(leaf_hash(&hex::decode(leaf).expect("hex test leaf")));
    }
    tree
}

#[test]
fn every_inclusion_vector_is_decided_as_expected() {
    let vectors = Vector::all("inclusion");
    assert!(
        vectors.len() >= 90,
        "only {} inclusion vectors found",
        vectors.len()
    );
    let mut failures = Vec::new();
    for v in &vectors {
        let result = v.check_inclusion();
        if result.is_err() != v.want_err() {
            failures.push(format!(
                "{}: wantErr {} but got {result:?}",
                v.path.display(),
                v.want_err()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_consistency_vector_is_decided_as_expected() {
    let vectors = Vector::all("consistency");
    assert!(
        vectors.len() >= 90,
        "only {} consistency vectors found",
        vectors.len()
    );
    let mut failures = Vec::new();
    for v in &vectors {
        let result = v.check_consistency();
        if result.is_err() != v.want_err() {
            failures.push(format!(
                "{}: wantErr {} but got {result:?}",
                v.path.display(),
                v.want_err()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_rfc6962_test_tree_has_the_published_root() {
    let tree = rfc6962_tree();
    assert_eq!(B64.encode(tree.root()), ROOT_OF_EIGHT);
    // The empty leaf's hash is the published leaf hash of the size-1 vectors.
    assert_eq!(
        B64.encode(tree.root_at(1).expect("size 1 <= 8")),
        "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="
    );
}

#[test]
fn generated_proofs_equal_the_happy_path_vectors() {
    let tree = rfc6962_tree();
    let mut compared = 0;
    for v in Vector::all("inclusion")
        .iter()
        .filter(|v| v.path.ends_with("happy-path.json"))
    {
        let (index, size) = (
            v.size("leafIdx").expect("index"),
            v.size("treeSize").expect("size"),
        );
        assert_eq!(
            tree.root_at(size).map(|r| r.to_vec()),
            v.hash("root").ok(),
            "{}",
            v.path.display()
        );
        let leaf = hex::decode(RFC6962_LEAVES[index as usize]).expect("hex test leaf");
        assert_eq!(
            Ok(leaf_hash(&leaf).to_vec()),
            v.hash("leafHash"),
            "{}",
            v.path.display()
        );
        let ours: Vec<Vec<u8>> = tree
            .inclusion_proof(index, size)
            .expect("valid arguments")
            .iter()
            .map(|h| h.to_vec())
            .collect();
        assert_eq!(Ok(ours), v.proof(), "{}", v.path.display());
        compared += 1;
    }
    for v in Vector::all("consistency")
        .iter()
        .filter(|v| v.path.ends_with("happy-path.json"))
    {
        let (size1, size2) = (
            v.size("size1").expect("size1"),
            v.size("size2").expect("size2"),
        );
        assert_eq!(
            tree.root_at(size1).map(|r| r.to_vec()),
            v.hash("root1").ok(),
            "{}",
            v.path.display()
        );
        assert_eq!(
            tree.root_at(size2).map(|r| r.to_vec()),
            v.hash("root2").ok(),
            "{}",
            v.path.display()
        );
        let ours: Vec<Vec<u8>> = tree
            .consistency_proof(size1, size2)
            .expect("valid arguments")
            .iter()
            .map(|h| h.to_vec())
            .collect();
        assert_eq!(Ok(ours), v.proof(), "{}", v.path.display());
        compared += 1;
    }
    assert_eq!(
        compared, 10,
        "five inclusion and five consistency happy paths"
    );
}

#[test]
fn every_proof_of_the_test_tree_verifies() {
    let tree = rfc6962_tree();
    for size in 1..=8u64 {
        let root = tree.root_at(size).expect("size <= 8");
        for index in 0..size {
            let leaf = leaf_hash(&hex::decode(RFC6962_LEAVES[index as usize]).expect("hex"));
            let proof = tree.inclusion_proof(index, size).expect("valid");
            assert_eq!(verify_inclusion(index, size, &leaf, &proof, &root), Ok(()));
        }
        for size1 in 1..=size {
            let root1 = tree.root_at(size1).expect("size1 <= 8");
            let proof = tree.consistency_proof(size1, size).expect("valid");
            assert_eq!(
                verify_consistency(size1, size, &proof, &root1, &root),
                Ok(())
            );
        }
    }
}
