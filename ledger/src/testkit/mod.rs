//! Test and benchmark kits, compiled only with the `testkit` feature: never part of a
//! production build of the ledger.

/// A synthetic programme with participants owed money.
pub mod fixture;
/// Throwaway PostgreSQL clusters.
pub mod pgtemp;
