//! Integration tests of the ledger's storage: every scenario runs on SQLite and on PostgreSQL.

mod api;
mod bank;
mod disburse;
mod disburse_parts;
mod disburse_properties;
mod journal;
mod periods;
mod programme;
mod programme_properties;
mod properties;
mod recovery;
mod reports;
mod simulate;
mod suppression;
mod web;
mod witness;
