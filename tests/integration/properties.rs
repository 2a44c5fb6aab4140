//! Properties over random histories: whatever valid transactions arrive, in whatever batches,
//! every currency's trial balance stays at zero, and rebuilding from the journal gives exactly
//! the live state.

use proptest::prelude::*;
use tranche_audit::Code;
use tranche_ledger::domain::{Command, TransactionInput};
use tranche_ledger::{Ledger, StoreError};
use tranche_tests::{on_both_backends, t0, Backend, TestLedger};

const ACCOUNTS: &[(&str, &str)] = &[
    ("bank:operating", "asset"),
    ("bank:clp", "asset"),
    ("fund:bprm", "equity"),
    ("expense:c4t-stipend", "expense"),
    ("expense:seed-capital", "expense"),
    ("payable:participant:P-00001", "liability"),
    ("payable:participant:P-00002", "liability"),
    ("transit", "asset"),
];
const CURRENCIES: &[&str] = &["USD", "CLP", "MXN"];

/// A small deterministic generator, so a failing long run can be replayed from its seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn random_transaction(rng: &mut Lcg) -> Command {
    let legs = 2 + rng.next() % 3;
    let currency = CURRENCIES[(rng.next() % CURRENCIES.len() as u64) as usize];
    let scale = if currency == "CLP" { 0 } else { 2 };
    let mut postings = Vec::new();
    let mut total = 0u64;
    for _ in 0..legs - 1 {
        let minor = 1 + rng.next() % 500_000;
        total += minor;
        let account = ACCOUNTS[(rng.next() % ACCOUNTS.len() as u64) as usize].0;
        postings.push((account, "debit", minor));
    }
    let account = ACCOUNTS[(rng.next() % ACCOUNTS.len() as u64) as usize].0;
    postings.push((account, "credit", total));
    let fmt = |minor: u64| {
        if scale == 0 {
            minor.to_string()
        } else {
            format!("{}.{:02}", minor / 100, minor % 100)
        }
    };
    let json = format!(
        r#"{{"memo":"random","postings":[{}]}}"#,
        postings
            .iter()
            .map(|(a, s, m)| format!(
                r#"{{"account":"{a}","currency":"{currency}","side":"{s}","amount":"{}"}}"#,
                fmt(*m)
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    TransactionInput::from_json(&json)
        .and_then(TransactionInput::into_command)
        .expect("generated transactions are valid")
}

async fn open_all(ledger: &Ledger) {
    let opens: Vec<Command> = ACCOUNTS
        .iter()
        .map(|(n, t)| Command::open_account(n, t, None).expect("valid"))
        .collect();
    ledger.append(&opens, "test", t0()).await.expect("open");
}

async fn assert_trial_balance_is_zero(ledger: &Ledger) {
    let mut net = std::collections::BTreeMap::<String, i64>::new();
    for b in ledger.store().balances("").await.expect("balances") {
        *net.entry(b.currency).or_default() += b.debit_minor - b.credit_minor;
    }
    for (currency, n) in net {
        assert_eq!(n, 0, "{currency} trial balance");
    }
}

/// Runs `batches` random batches, with reversals of earlier transactions mixed in.
async fn random_history(ledger: &Ledger, seed: u64, batches: usize) {
    let mut rng = Lcg(seed);
    let mut transactions: Vec<u64> = Vec::new();
    for _ in 0..batches {
        let n = 1 + (rng.next() % 20) as usize;
        let batch: Vec<Command> = (0..n).map(|_| random_transaction(&mut rng)).collect();
        let done = ledger
            .append(&batch, "random", t0())
            .await
            .expect("valid batch");
        transactions.extend(done.first_seq..done.first_seq + done.count);
        if rng.next().is_multiple_of(3) && !transactions.is_empty() {
            let target = transactions[(rng.next() % transactions.len() as u64) as usize];
            let stored = ledger.store().records(target, 1).await.expect("record");
            let record = tranche_audit::record::Record::decode(&stored[0].bytes).expect("decodes");
            let mut body: tranche_audit::record::TransactionBody =
                serde_json::from_value(record.body).expect("a transaction");
            for p in &mut body.postings {
                p.side = p.side.opposite();
            }
            let reversal = TransactionInput {
                date: None,
                prior_period: None,
                memo: "reversal".into(),
                postings: body.postings,
                reverses: Some(target),
            }
            .into_command()
            .expect("a mirror is valid");
            match ledger.append(&[reversal], "random", t0()).await {
                Ok(_) => {}
                // Picking an already reversed transaction (or a reversal) is refused: fine.
                Err(StoreError::Invalid(i))
                    if i.code == Code::AlreadyReversed || i.code == Code::ReversalOfReversal => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
    }
}

async fn a_long_random_run_rebuilds_to_exactly_the_live_state(l: TestLedger) {
    open_all(&l.ledger).await;
    random_history(&l.ledger, 42, 60).await;
    assert_trial_balance_is_zero(&l.ledger).await;
    let report =
        tranche_ledger::store::rebuild::check(l.ledger.store(), l.ledger.verifier(), |_, _| {})
            .await
            .expect("check");
    assert!(report.is_clean(), "{:?}", report.differences);
    assert!(report.records > 300);
    // Rebuilding for real gives the same state again.
    let before = l.ledger.store().balances("").await.expect("balances");
    l.ledger
        .store()
        .replace_projections()
        .await
        .expect("rebuild");
    assert_eq!(
        l.ledger.store().balances("").await.expect("balances"),
        before
    );
}

on_both_backends!(a_long_random_run_rebuilds_to_exactly_the_live_state);

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_valid_transactions_keeps_every_trial_balance_at_zero(seed in any::<u64>(), batches in 1usize..12) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let l = tranche_tests::ledger(Backend::Sqlite).await.expect("sqlite");
            open_all(&l.ledger).await;
            random_history(&l.ledger, seed, batches).await;
            assert_trial_balance_is_zero(&l.ledger).await;
        });
    }
}
