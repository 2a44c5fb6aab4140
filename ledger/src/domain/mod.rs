//! The rules, with no I/O: commands and their stateless checks, the programme and disbursement
//! state with their stateful rules, entitlement cycles, the projection rows a record makes, and
//! the planner that turns a batch of commands into the records, Merkle nodes, projection changes
//! and signed checkpoint a store writes in one transaction.
//!
//! The modules depend one way: `command` and `rows` on the states (`programme`, `disburse`),
//! `cycle` on `command` and `programme`, and `plan` on all of them; nothing here imports a store
//! or a service.

/// Commands and the rules that need no state.
pub mod command;
/// Entitlement cycles: evidence to entitlements under the rule versions in force.
pub mod cycle;
/// Payment batches, maker-checker approval, bank files and bank outcomes: state and rules.
pub mod disburse;
/// The disbursement state and what other rules ask of it.
pub mod payment_state;
/// The planner: a batch of commands against the state it touches, to a [`plan::Plan`].
pub mod plan;
/// The programme state (awards, partners, cohorts, participants, evidence, rules, entitlements)
/// and its rules.
pub mod programme;
/// Rows of the programme and disbursement projections, derived from records alone.
pub mod rows;
/// A plain transaction and its memo.
pub mod transaction;

pub use command::{Command, EntitlementCommand, ReversalError, TransactionInput, MAX_BATCH};
pub use plan::{
    apply, plan, plan_groups, AccountState, Context, Effects, Group, GroupResult, Head,
    PersonalEffect, Plan, PlanError, PostingRow, SignedCheckpoint, State, TxState,
};
pub use rows::*;
pub use transaction::{check_memo, NewTransaction, MAX_MEMO_BYTES};
