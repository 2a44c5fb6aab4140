//! The RFC 6962 / RFC 9162 Merkle tree over journal records: leaf and node hashing, the
//! streaming right border ("frontier") used both by the ledger when it appends and by the
//! verifier when it recomputes a root, and inclusion and consistency proofs (generation and
//! verification, RFC 9162 §2.1.3 and §2.1.4).
//!
//! Proof generation never needs the leaves: it asks a [`NodeSource`] for the hashes of perfect,
//! aligned subtrees, which is exactly what the ledger stores as it appends. That keeps both an
//! append and a proof O(log n).

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// SHA-256 of the empty string: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Leaf hash = SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// Interior node hash = SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A perfect subtree of the log: `level` 0 is a leaf; node (level, index) covers the leaves
/// `[index << level, (index + 1) << level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }
}

/// The perfect subtrees whose concatenation is the tree of `size` leaves, largest first (one
/// per set bit of `size`). Their hashes are all the state needed to append or to compute a root.
pub fn frontier_ids(size: u64) -> Vec<NodeId> {
    let mut ids = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if size & (1u64 << level) != 0 {
            ids.push(NodeId::new(level, start >> level));
            start += 1u64 << level;
        }
    }
    ids
}

/// The right border of a tree: the roots of the perfect subtrees that make it up. Appending a
/// leaf is amortised O(1) hashes; the root is O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Hashes matching `frontier_ids(size)`, largest subtree first.
    nodes: Vec<Hash>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrontierError {
    #[error("a tree of size {size} has {expected} frontier nodes, {got} were given")]
    WrongCount {
        size: u64,
        expected: usize,
        got: usize,
    },
}

impl Frontier {
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Rebuilds the frontier of a tree of `size` leaves from the hashes of `frontier_ids(size)`.
    pub fn from_nodes(size: u64, nodes: Vec<Hash>) -> Result<Self, FrontierError> {
        let expected = size.count_ones() as usize;
        if nodes.len() != expected {
            return Err(FrontierError::WrongCount {
                size,
                expected,
                got: nodes.len(),
            });
        }
        Ok(Frontier { size, nodes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash. `completed` is called for the leaf itself and for every perfect
    /// subtree this append completes, bottom up: these are the nodes a store keeps for proofs.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(NodeId, &Hash)) {
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        completed(NodeId::new(0, index), &hash);
        while index & 1 == 1 {
            // The left sibling is the smallest subtree on the border; an odd index always has one.
            let left = self
                .nodes
                .pop()
                .expect("an odd index always has a left sibling on the frontier");
            hash = node_hash(&left, &hash);
            index >>= 1;
            level += 1;
            completed(NodeId::new(level, index), &hash);
        }
        self.nodes.push(hash);
        self.size += 1;
    }

    /// The tree's root hash (RFC 6962 MTH).
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        let mut acc = *last;
        for left in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }

    /// The frontier hashes, matching `frontier_ids(self.size())`.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }
}

/// Where proof generation finds the hashes of perfect, aligned subtrees.
pub trait NodeSource {
    type Error;
    fn node(&mut self, id: NodeId) -> Result<Hash, Self::Error>;
}

impl<E, F: FnMut(NodeId) -> Result<Hash, E> + ?Sized> NodeSource for F {
    type Error = E;
    fn node(&mut self, id: NodeId) -> Result<Hash, E> {
        self(id)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    #[error("tree size must be at least 1")]
    EmptyTree,
    #[error("size1 {size1} is greater than size2 {size2}")]
    SizesOutOfOrder { size1: u64, size2: u64 },
    #[error("size1 must be at least 1: a consistency proof from the empty tree proves nothing")]
    ZeroSize1,
    #[error("a hash must be 32 bytes, found {0}")]
    BadHashLength(usize),
    #[error("the proof has {got} hashes, {expected} expected")]
    WrongLength { expected: usize, got: usize },
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("the proof does not reproduce the first tree's root")]
    FirstRootMismatch,
}

fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of leaves [lo, hi). `lo` is always a multiple of every power of two used below, which is
/// what makes each left part a stored, aligned perfect subtree.
fn subtree_hash<S: NodeSource + ?Sized>(lo: u64, hi: u64, src: &mut S) -> Result<Hash, S::Error> {
    let n = hi - lo;
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return src.node(NodeId::new(level, lo >> level));
    }
    let k = largest_power_of_two_below(n);
    let left = subtree_hash(lo, lo + k, src)?;
    let right = subtree_hash(lo + k, hi, src)?;
    Ok(node_hash(&left, &right))
}

fn inclusion_path<S: NodeSource + ?Sized>(
    m: u64,
    lo: u64,
    hi: u64,
    src: &mut S,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = hi - lo;
    if n == 1 {
        return Ok(());
    }
    let k = largest_power_of_two_below(n);
    if m < lo + k {
        inclusion_path(m, lo, lo + k, src, out)?;
        out.push(subtree_hash(lo + k, hi, src)?);
    } else {
        inclusion_path(m, lo + k, hi, src, out)?;
        out.push(subtree_hash(lo, lo + k, src)?);
    }
    Ok(())
}

/// Errors of proof generation: bad arguments, or the node source failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError<E> {
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("reading a tree node failed")]
    Source(E),
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]): the inclusion proof of leaf `index` in the tree of `size`.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    index: u64,
    size: u64,
    src: &mut S,
) -> Result<Vec<Hash>, GenerateError<S::Error>> {
    if size == 0 {
        return Err(ProofError::EmptyTree.into());
    }
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size }.into());
    }
    let mut out = Vec::new();
    inclusion_path(index, 0, size, src, &mut out).map_err(GenerateError::Source)?;
    Ok(out)
}

fn consistency_subproof<S: NodeSource + ?Sized>(
    m: u64,
    lo: u64,
    hi: u64,
    complete: bool,
    src: &mut S,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = hi - lo;
    if m == n {
        if !complete {
            out.push(subtree_hash(lo, hi, src)?);
        }
        return Ok(());
    }
    let k = largest_power_of_two_below(n);
    if m <= k {
        consistency_subproof(m, lo, lo + k, complete, src, out)?;
        out.push(subtree_hash(lo + k, hi, src)?);
    } else {
        consistency_subproof(m - k, lo + k, hi, false, src, out)?;
        out.push(subtree_hash(lo, lo + k, src)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.1 PROOF(m, D[n]): the consistency proof from size `size1` to `size2`.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    size1: u64,
    size2: u64,
    src: &mut S,
) -> Result<Vec<Hash>, GenerateError<S::Error>> {
    if size1 == 0 {
        return Err(ProofError::ZeroSize1.into());
    }
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 }.into());
    }
    let mut out = Vec::new();
    if size1 < size2 {
        consistency_subproof(size1, 0, size2, true, src, &mut out)
            .map_err(GenerateError::Source)?;
    }
    Ok(out)
}

/// The node ids a proof generation will ask for, so that a store can fetch them in one query
/// before generating the proof from memory.
pub fn nodes_needed(
    generate: impl FnOnce(&mut dyn FnMut(NodeId) -> Result<Hash, ()>),
) -> Vec<NodeId> {
    let mut ids = Vec::new();
    let mut record = |id: NodeId| -> Result<Hash, ()> {
        ids.push(id);
        Ok([0u8; 32])
    };
    generate(&mut record);
    ids.sort();
    ids.dedup();
    ids
}

fn to_hash(bytes: &[u8]) -> Result<Hash, ProofError> {
    bytes
        .try_into()
        .map_err(|_| ProofError::BadHashLength(bytes.len()))
}

/// RFC 9162 §2.1.3.2: verifies that `leaf_hash` is leaf `index` of the tree of `size` with `root`.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    let mut r = to_hash(leaf_hash)?;
    let mut fn_ = index;
    let mut sn = size - 1;
    for p in proof {
        let p = to_hash(p.as_ref())?;
        if sn == 0 {
            return Err(ProofError::WrongLength {
                expected: inclusion_proof_len(index, size),
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(&p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, &p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength {
            expected: inclusion_proof_len(index, size),
            got: proof.len(),
        });
    }
    if r.as_slice() != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The number of hashes in an inclusion proof for (index, size).
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    if index >= size {
        return 0;
    }
    let mut count = 0;
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = largest_power_of_two_below(hi - lo);
        if index < lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        count += 1;
    }
    count
}

/// RFC 9162 §2.1.4.2: verifies that the tree (size1, root1) is a prefix of (size2, root2).
pub fn verify_consistency<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::ZeroSize1);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength {
            expected: 1,
            got: 0,
        });
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    // If size1 is an exact power of two, the first tree's root is itself the first node.
    if size1.is_power_of_two() {
        path.push(to_hash(root1)?);
    }
    for p in proof {
        path.push(to_hash(p.as_ref())?);
    }
    let mut fn_ = size1 - 1;
    let mut sn = size2 - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut iter = path.iter();
    let first = *iter.next().expect("path is not empty");
    let mut fr = first;
    let mut sr = first;
    for c in iter {
        if sn == 0 {
            return Err(ProofError::WrongLength {
                expected: path.len() - 1,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength {
            expected: path.len(),
            got: proof.len(),
        });
    }
    if fr.as_slice() != root1 {
        return Err(ProofError::FirstRootMismatch);
    }
    if sr.as_slice() != root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// An in-memory tree of every node, for tests and for small offline tools. The ledger keeps the
/// same nodes in its database instead.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    frontier: Frontier,
    nodes: std::collections::HashMap<NodeId, Hash>,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, leaf: Hash) {
        let nodes = &mut self.nodes;
        self.frontier.push(leaf, |id, h| {
            nodes.insert(id, *h);
        });
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The root of the first `size` leaves (any earlier version of the tree).
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        if size > self.size() {
            return None;
        }
        if size == 0 {
            return Some(empty_root());
        }
        let mut src = |id: NodeId| self.nodes.get(&id).copied().ok_or(());
        subtree_hash(0, size, &mut src).ok()
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if size > self.size() {
            return Err(ProofError::IndexBeyondSize {
                index: size,
                size: self.size() + 1,
            });
        }
        let mut src = |id: NodeId| -> Result<Hash, ()> { self.nodes.get(&id).copied().ok_or(()) };
        inclusion_proof(index, size, &mut src).map_err(|e| match e {
            GenerateError::Proof(p) => p,
            GenerateError::Source(()) => unreachable!("every perfect subtree of the tree is kept"),
        })
    }

    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, ProofError> {
        if size2 > self.size() {
            return Err(ProofError::SizesOutOfOrder {
                size1: size2,
                size2: self.size(),
            });
        }
        let mut src = |id: NodeId| -> Result<Hash, ()> { self.nodes.get(&id).copied().ok_or(()) };
        consistency_proof(size1, size2, &mut src).map_err(|e| match e {
            GenerateError::Proof(p) => p,
            GenerateError::Source(()) => unreachable!("every perfect subtree of the tree is kept"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    /// The root by the RFC's recursive definition, straight from the leaves.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = largest_power_of_two_below(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn frontier_root_matches_the_recursive_definition() {
        let mut leaves = Vec::new();
        let mut f = Frontier::new();
        for i in 0..70u64 {
            assert_eq!(f.root(), reference_root(&leaves), "size {i}");
            let h = leaf_hash(&i.to_le_bytes());
            leaves.push(h);
            f.push(h, |_, _| {});
        }
    }

    #[test]
    fn frontier_ids_cover_the_tree_left_to_right() {
        assert_eq!(frontier_ids(0), vec![]);
        assert_eq!(
            frontier_ids(13),
            vec![NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]
        );
    }

    #[test]
    fn a_frontier_rebuilt_from_stored_nodes_continues_identically() {
        let t = tree(37);
        let nodes: Vec<Hash> = frontier_ids(37).iter().map(|id| t.nodes[id]).collect();
        let mut f = Frontier::from_nodes(37, nodes).expect("37 has three set bits");
        assert_eq!(f.root(), t.root());
        f.push(leaf_hash(b"x"), |_, _| {});
        let mut t2 = t.clone();
        t2.push(leaf_hash(b"x"));
        assert_eq!(f.root(), t2.root());
        assert!(Frontier::from_nodes(37, vec![]).is_err());
    }

    proptest! {
        #[test]
        fn every_inclusion_proof_verifies_and_a_mutated_one_does_not(size in 1u64..300, seed in any::<u64>(), bit in 0usize..256) {
            let t = tree(size);
            let index = seed % size;
            let proof = t.inclusion_proof(index, size).expect("valid arguments");
            prop_assert_eq!(proof.len(), inclusion_proof_len(index, size));
            let leaf = leaf_hash(&index.to_be_bytes());
            prop_assert!(verify_inclusion(index, size, &leaf, &proof, &t.root()).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = (seed as usize / 7) % bad.len();
                bad[at][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(index, size, &leaf, &bad, &t.root()).is_err());
                let mut short = proof.clone();
                short.pop();
                prop_assert!(verify_inclusion(index, size, &leaf, &short, &t.root()).is_err());
            }
            let mut long = proof.clone();
            long.push([7u8; 32]);
            prop_assert!(verify_inclusion(index, size, &leaf, &long, &t.root()).is_err());
            if size > 1 {
                let other = (index + 1) % size;
                prop_assert!(verify_inclusion(other, size, &leaf, &proof, &t.root()).is_err());
            }
        }

        #[test]
        fn every_consistency_proof_verifies_and_a_mutated_one_does_not(size2 in 1u64..300, seed in any::<u64>(), bit in 0usize..256) {
            let t = tree(size2);
            let size1 = 1 + seed % size2;
            let proof = t.consistency_proof(size1, size2).expect("valid arguments");
            let root1 = t.root_at(size1).expect("size1 <= size");
            prop_assert!(verify_consistency(size1, size2, &proof, &root1, &t.root()).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = (seed as usize / 11) % bad.len();
                bad[at][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(size1, size2, &bad, &root1, &t.root()).is_err());
                let mut short = proof.clone();
                short.pop();
                prop_assert!(verify_consistency(size1, size2, &short, &root1, &t.root()).is_err());
            }
            let mut long = proof.clone();
            long.push([9u8; 32]);
            prop_assert!(verify_consistency(size1, size2, &long, &root1, &t.root()).is_err());
            if size1 < size2 {
                let wrong1 = t.root_at(size1 + 1).expect("size1 + 1 <= size");
                prop_assert!(verify_consistency(size1, size2, &proof, &wrong1, &t.root()).is_err());
            }
        }
    }

    #[test]
    fn nodes_needed_lists_what_a_proof_reads() {
        let t = tree(21);
        let ids = nodes_needed(|src| {
            let _ = inclusion_proof(5, 21, src);
        });
        assert!(!ids.is_empty());
        let mut map = std::collections::HashMap::new();
        for id in &ids {
            map.insert(*id, t.nodes[id]);
        }
        let mut from_map = |id: NodeId| map.get(&id).copied().ok_or(());
        let proof = inclusion_proof(5, 21, &mut from_map).expect("all nodes were prefetched");
        assert_eq!(proof, t.inclusion_proof(5, 21).expect("valid"));
    }
}
