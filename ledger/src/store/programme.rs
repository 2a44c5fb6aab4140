//! The in-memory programme state a store keeps beside its database: caught up from the journal
//! (programme records and entitlements only) before every write and every read, under the
//! writer lock when writing, so that several processes or API nodes sharing one database all
//! decide on the same state.

use tranche_audit::record::Record;

use super::{Result, StoreError, StoredRecord};
use crate::domain::programme::{self, ProgrammeState};
use crate::domain::Command;

/// The record kinds that change the programme state, for `kind IN (…)` (served by the
/// `journal (kind, seq)` index, so plain transactions are never read).
pub(crate) const PROGRAMME_KINDS: &str = "'award.open','partner.register','partner.key',\
'cohort.open','session.schedule','participant.register','evidence','rule.version','entitlement',\
'cycle.run','disbursement.config','batch.create','batch.part','batch.submit','batch.approve',\
'batch.reject','batch.cancel','batch.file','batch.send','bank.import','bank.status',\
'period.close','period.reopen'";
/// Records per catch-up page.
pub(crate) const CATCH_UP_PAGE: u32 = 1_000;

/// The programme state and the journal size it reflects.
#[derive(Debug, Default)]
pub struct ProgrammeCache {
    pub state: ProgrammeState,
    pub size: u64,
}

/// Shared by every clone of a store; `None` until first used, or after a failed write.
pub type SharedProgramme = std::sync::Arc<tokio::sync::Mutex<Option<ProgrammeCache>>>;

/// Balances are not needed to replay: budgets were checked when the records were written.
struct NoBalances;

impl programme::Balances for NoBalances {
    fn net(&self, _account: &str) -> i128 {
        0
    }
    fn known(&self) -> bool {
        false
    }
}

impl ProgrammeCache {
    /// Applies a page of programme records read from the journal (all below `upto`); when the
    /// page is short, the cache has reached `upto`.
    pub(crate) fn replay(&mut self, page: &[StoredRecord], upto: u64) -> Result<()> {
        // Signatures were verified when these records were appended.
        self.state.trust_signatures = true;
        let result: Result<()> = page.iter().try_for_each(|stored| {
            replay_record(&mut self.state, stored)?;
            self.size = stored.seq + 1;
            Ok(())
        });
        self.state.trust_signatures = false;
        result?;
        self.state.commit();
        if page.len() < CATCH_UP_PAGE as usize {
            self.size = upto;
        }
        Ok(())
    }
}

/// Applies one stored record to the programme state.
pub fn replay_record(state: &mut ProgrammeState, stored: &StoredRecord) -> Result<()> {
    let corrupt = |e: String| StoreError::Corrupt(format!("seq {}: {e}", stored.seq));
    // The store wrote and checked these bytes; `rebuild --check` and the verifier re-check them.
    let record = Record::decode_trusted(&stored.bytes).map_err(|e| corrupt(e.to_string()))?;
    let command = Command::from_record(&record).map_err(|e| corrupt(e.to_string()))?;
    replay_command(state, stored.seq, &record.actor, &command).map_err(|e| corrupt(e.to_string()))
}

/// The programme part of applying a trusted command (the account part is the other
/// projections' business).
pub fn replay_command(
    state: &mut ProgrammeState,
    seq: u64,
    actor: &str,
    command: &Command,
) -> std::result::Result<(), tranche_audit::Invalid> {
    match command {
        Command::Programme(p) => programme::apply(state, seq, actor, p),
        Command::Entitlement(e) => {
            programme::apply_entitlement(
                state,
                seq,
                &e.meta,
                &e.tx.postings,
                e.amount(),
                e.tx.reverses,
                &[],
                &NoBalances,
            )?;
            crate::domain::disburse::on_entitlement(
                state,
                seq,
                &e.meta,
                &e.tx.postings,
                e.tx.reverses,
            );
            Ok(())
        }
        Command::Disburse(d) => crate::domain::disburse::apply(state, seq, actor, d, &NoBalances),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_but_the_ledgers_own_is_a_programme_kind() {
        use tranche_audit::record::kind;
        for k in kind::ALL {
            let listed = super::PROGRAMME_KINDS.contains(&format!("'{k}'"));
            let ledger_only = [
                kind::LEDGER_KEY,
                kind::LEDGER_ROTATE,
                kind::ACCOUNT_OPEN,
                kind::ACCOUNT_CLOSE,
                kind::TRANSACTION,
            ]
            .contains(k);
            assert_eq!(listed, !ledger_only, "{k}");
        }
    }
}
