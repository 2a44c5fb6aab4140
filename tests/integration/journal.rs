//! The signed journal on both backends: appends, proofs, checkpoints, refusals that write
//! nothing, and a database that refuses to edit history.

use tranche_audit::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use tranche_audit::note::open_checkpoint;
use tranche_audit::record::{kind, Record};
use tranche_audit::Code;
use tranche_ledger::domain::{Command, TransactionInput};
use tranche_ledger::store::BalanceRow;
use tranche_ledger::{Ledger, StoreError};
use tranche_tests::{on_both_backends, t0, TestLedger};

fn tx(json: &str) -> Command {
    TransactionInput::from_json(json)
        .and_then(TransactionInput::into_command)
        .expect("a valid transaction")
}

fn transfer(debit: &str, credit: &str, amount: &str) -> Command {
    tx(&format!(
        r#"{{"memo":"transfer","postings":[
            {{"account":"{debit}","currency":"USD","side":"debit","amount":"{amount}"}},
            {{"account":"{credit}","currency":"USD","side":"credit","amount":"{amount}"}}]}}"#
    ))
}

async fn open_accounts(ledger: &Ledger) {
    let opens = [
        ("bank:operating", "asset"),
        ("fund:bprm", "equity"),
        ("expense:c4t-stipend", "expense"),
        ("payable:participant:P-00012", "liability"),
        ("obligations", "memo"),
        ("obligations:contra", "memo"),
    ]
    .iter()
    .map(|(n, t)| Command::open_account(n, t, None).expect("valid account"))
    .collect::<Vec<_>>();
    ledger
        .append(&opens, "test", t0())
        .await
        .expect("accounts open");
}

/// Everything an append could change, to show that a refusal changed none of it.
async fn snapshot(ledger: &Ledger) -> (u64, Vec<BalanceRow>, Option<String>) {
    let s = ledger.store();
    (
        s.tree_size().await.expect("size"),
        s.balances("").await.expect("balances"),
        s.latest_checkpoint()
            .await
            .expect("checkpoint")
            .map(|c| c.note),
    )
}

async fn refused(ledger: &Ledger, commands: &[Command], code: &str, field: &str) {
    let before = snapshot(ledger).await;
    match ledger.append(commands, "test", t0()).await {
        Err(StoreError::Invalid(i)) => {
            assert_eq!(i.code.as_str(), code, "rule for {i}");
            assert_eq!(i.field, field, "field for {i}");
        }
        other => panic!("expected a refusal {code}, got {other:?}"),
    }
    assert_eq!(
        snapshot(ledger).await,
        before,
        "a refusal must write nothing"
    );
}

fn stateless(json: &str) -> tranche_audit::Invalid {
    TransactionInput::from_json(json)
        .and_then(TransactionInput::into_command)
        .expect_err("refused before reaching the store")
}

async fn a_new_ledger_starts_with_its_key_record(l: TestLedger) {
    let records = l.ledger.store().records(0, 10).await.expect("records");
    assert_eq!(records.len(), 1);
    let r = Record::decode(&records[0].bytes).expect("canonical");
    assert_eq!(r.kind, kind::LEDGER_KEY);
    assert_eq!(r.body["vkey"], l.ledger.verifier().to_vkey());
    // A second handle on the same database and key is accepted and adds nothing.
    let again = l.reopen().await;
    assert_eq!(again.store().tree_size().await.expect("size"), 1);
}

async fn a_ledger_refuses_a_key_that_is_not_its_own(l: TestLedger) {
    let mut other = l.config.clone();
    other.key_path = Some(l.dir.path().join("other.key"));
    let err = Ledger::open(&other)
        .await
        .expect_err("another key is refused");
    assert!(err.to_string().contains("created with key"), "{err}");
}

async fn balanced_transactions_update_balances_and_are_provable(l: TestLedger) {
    let ledger = &l.ledger;
    open_accounts(ledger).await;
    let first = ledger
        .append(
            &[transfer("bank:operating", "fund:bprm", "10000.00")],
            "finance:ana",
            t0(),
        )
        .await
        .expect("drawdown");
    let size1 = first.checkpoint.size;
    let second = ledger
        .append(
            &[
                transfer(
                    "expense:c4t-stipend",
                    "payable:participant:P-00012",
                    "60.00",
                ),
                transfer(
                    "expense:c4t-stipend",
                    "payable:participant:P-00012",
                    "48.00",
                ),
            ],
            "finance:ana",
            t0(),
        )
        .await
        .expect("entitlements");
    assert_eq!(second.first_seq, size1, "seq is gapless across batches");
    assert_eq!(second.count, 2);

    let balances = ledger.store().balances("payable").await.expect("balances");
    assert_eq!(
        balances,
        vec![BalanceRow {
            account: "payable:participant:P-00012".into(),
            currency: "USD".into(),
            debit_minor: 0,
            credit_minor: 10800,
        }]
    );
    let all = ledger.store().balances("").await.expect("balances");
    let net: i64 = all.iter().map(|b| b.debit_minor - b.credit_minor).sum();
    assert_eq!(net, 0, "the trial balance is zero");

    // The checkpoint is signed by the ledger key and every record is provably in it.
    let cp = ledger
        .store()
        .latest_checkpoint()
        .await
        .expect("cp")
        .expect("some");
    let opened = open_checkpoint(&cp.note, ledger.verifier()).expect("signature verifies");
    assert_eq!(opened.checkpoint.size, cp.size);
    let records = ledger.store().records(0, 100).await.expect("records");
    assert_eq!(records.len() as u64, cp.size);
    for r in &records {
        assert_eq!(r.leaf, leaf_hash(&r.bytes));
        let proof = ledger
            .store()
            .inclusion_proof(r.seq, cp.size)
            .await
            .expect("proof");
        verify_inclusion(r.seq, cp.size, &r.leaf, &proof, &cp.root).expect("inclusion verifies");
    }
    let first_root = first.checkpoint.root;
    let proof = ledger
        .store()
        .consistency_proof(size1, cp.size)
        .await
        .expect("consistency proof");
    verify_consistency(size1, cp.size, &proof, &first_root, &cp.root).expect("consistent");
}

async fn proofs_beyond_the_tree_are_refused(l: TestLedger) {
    let size = l.ledger.store().tree_size().await.expect("size");
    let err = l
        .ledger
        .store()
        .inclusion_proof(0, size + 1)
        .await
        .expect_err("beyond");
    assert!(matches!(err, StoreError::Invalid(i) if i.code == Code::BeyondTreeSize));
    let err = l
        .ledger
        .store()
        .inclusion_proof(size, size)
        .await
        .expect_err("index beyond");
    assert!(matches!(err, StoreError::Invalid(_)));
    let err = l
        .ledger
        .store()
        .consistency_proof(2, 1)
        .await
        .expect_err("size1 > size2");
    assert!(matches!(err, StoreError::Invalid(_)));
}

async fn stateful_bad_input_is_refused_and_writes_nothing(l: TestLedger) {
    let ledger = &l.ledger;
    open_accounts(ledger).await;
    refused(
        ledger,
        &[transfer("bank:operating", "fund:unknown", "1.00")],
        "unknown_account",
        "postings[1].account",
    )
    .await;
    refused(
        ledger,
        &[Command::open_account("bank:operating", "asset", None).expect("valid")],
        "account_exists",
        "name",
    )
    .await;
    refused(
        ledger,
        &[transfer("bank:operating", "obligations", "1.00")],
        "memo_mixed",
        "postings",
    )
    .await;
    // A batch is all or nothing: a good item before a bad one is not written either.
    refused(
        ledger,
        &[
            transfer("bank:operating", "fund:bprm", "5.00"),
            transfer("bank:operating", "nowhere", "5.00"),
        ],
        "unknown_account",
        "postings[1].account",
    )
    .await;
}

async fn reversals_must_mirror_and_happen_once(l: TestLedger) {
    let ledger = &l.ledger;
    open_accounts(ledger).await;
    let original = ledger
        .append(
            &[transfer("bank:operating", "fund:bprm", "250.00")],
            "test",
            t0(),
        )
        .await
        .expect("original")
        .first_seq;
    let reversal = |amount: &str| {
        tx(&format!(
            r#"{{"memo":"correction","reverses":{original},"postings":[
                {{"account":"fund:bprm","currency":"USD","side":"debit","amount":"{amount}"}},
                {{"account":"bank:operating","currency":"USD","side":"credit","amount":"{amount}"}}]}}"#
        ))
    };
    refused(ledger, &[reversal("25.00")], "not_a_mirror", "postings").await;
    let done = ledger
        .append(&[reversal("250.00")], "test", t0())
        .await
        .expect("mirror accepted");
    refused(
        ledger,
        &[reversal("250.00")],
        "already_reversed",
        "reverses",
    )
    .await;
    let of_reversal = tx(&format!(
        r#"{{"memo":"x","reverses":{},"postings":[
            {{"account":"bank:operating","currency":"USD","side":"debit","amount":"250.00"}},
            {{"account":"fund:bprm","currency":"USD","side":"credit","amount":"250.00"}}]}}"#,
        done.first_seq
    ));
    refused(ledger, &[of_reversal], "reversal_of_reversal", "reverses").await;
    let balances = ledger.store().balances("bank").await.expect("balances");
    assert_eq!(balances[0].debit_minor - balances[0].credit_minor, 0);
}

async fn a_closed_account_takes_no_postings(l: TestLedger) {
    let ledger = &l.ledger;
    open_accounts(ledger).await;
    ledger
        .append(
            &[transfer("bank:operating", "fund:bprm", "1.00")],
            "test",
            t0(),
        )
        .await
        .expect("posted");
    refused(
        ledger,
        &[Command::close_account("bank:operating").expect("valid")],
        "account_not_empty",
        "name",
    )
    .await;
    ledger
        .append(
            &[Command::close_account("obligations").expect("valid")],
            "test",
            t0(),
        )
        .await
        .expect("an empty account closes");
    refused(
        ledger,
        &[tx(r#"{"memo":"","postings":[
            {"account":"obligations","currency":"USD","side":"debit","amount":"1.00"},
            {"account":"obligations:contra","currency":"USD","side":"credit","amount":"1.00"}]}"#)],
        "account_closed",
        "postings[0].account",
    )
    .await;
}

async fn a_record_over_64_kib_is_refused(l: TestLedger) {
    let ledger = &l.ledger;
    let long = "a".repeat(180);
    let mut opens = Vec::new();
    let mut postings = Vec::new();
    for i in 0..400 {
        let name = format!("expense:{long}{i:03}");
        opens.push(Command::open_account(&name, "expense", None).expect("valid"));
        postings.push(format!(
            r#"{{"account":"{name}","currency":"USD","side":"debit","amount":"1.00"}}"#
        ));
    }
    opens.push(Command::open_account("bank:operating", "asset", None).expect("valid"));
    ledger.append(&opens, "test", t0()).await.expect("accounts");
    postings.push(
        r#"{"account":"bank:operating","currency":"USD","side":"credit","amount":"400.00"}"#.into(),
    );
    let big = tx(&format!(
        r#"{{"memo":"big","postings":[{}]}}"#,
        postings.join(",")
    ));
    refused(ledger, &[big], "record_too_large", "").await;
}

/// SQL run by someone who defeats the projection guard on purpose, as the store opens it for its
/// own writes (the flag on SQLite, the transaction-local setting on PostgreSQL).
pub(crate) fn behind_the_ledgers_back(backend: &str, sql: &str) -> String {
    if backend == "postgres" {
        format!("BEGIN; SELECT set_config('tranche.writer', 'on', true); {sql}; COMMIT;")
    } else {
        format!(
            "BEGIN; UPDATE projection_writer SET armed = 1; {sql}; \
             UPDATE projection_writer SET armed = 0; COMMIT;"
        )
    }
}

async fn the_database_refuses_to_edit_history(l: TestLedger) {
    let store = l.ledger.store();
    open_accounts(&l.ledger).await;
    l.ledger
        .append(
            &[transfer("bank:operating", "fund:bprm", "100.00")],
            "test",
            t0(),
        )
        .await
        .expect("posted");
    let before = snapshot(&l.ledger).await;
    for sql in [
        "UPDATE journal SET actor = 'mallory' WHERE seq = 0",
        "DELETE FROM journal WHERE seq = 1",
        "UPDATE merkle_nodes SET hash = hash WHERE level = 0",
        "DELETE FROM merkle_nodes",
        "UPDATE checkpoints SET note = 'x'",
        "DELETE FROM checkpoints",
        // Projections are written only by the ledger's own append and rebuild.
        "DELETE FROM postings",
        "UPDATE postings SET running_minor = running_minor + 1",
        "INSERT INTO postings (seq, idx, account, currency, side, amount_minor, running_minor) VALUES (999, 0, 'bank:operating', 'USD', 'debit', 1, 1)",
        "UPDATE balances SET debit_minor = 0",
        "DELETE FROM balances",
        "INSERT INTO balances (account, currency, debit_minor, credit_minor) VALUES ('x:y', 'USD', 1, 0)",
        "UPDATE accounts SET closed_seq = 1",
        "DELETE FROM accounts",
        "INSERT INTO accounts (name, type, opened_seq) VALUES ('x:y', 'asset', 0)",
        "UPDATE transactions SET memo = 'x'",
        "DELETE FROM transactions",
        "UPDATE projection_digests SET rows = rows + 1",
        "DELETE FROM projection_digests",
    ] {
        let err = store.execute_raw(sql).await.expect_err(sql);
        assert!(matches!(err, StoreError::Refused(_)), "{sql}: {err:?}");
    }
    if store.backend_name() == "postgres" {
        for sql in [
            "TRUNCATE journal",
            "TRUNCATE merkle_nodes",
            "TRUNCATE checkpoints",
            "TRUNCATE postings",
            "TRUNCATE balances, accounts, transactions",
            "TRUNCATE projection_digests",
        ] {
            let err = store.execute_raw(sql).await.expect_err(sql);
            assert!(matches!(err, StoreError::Refused(_)), "{sql}: {err:?}");
        }
    }
    assert_eq!(snapshot(&l.ledger).await, before);
    let check = tranche_ledger::store::rebuild::check(store, l.ledger.verifier(), |_, _| {})
        .await
        .expect("check runs");
    assert!(check.is_clean(), "{:?}", check.differences);
    // The ledger's own writes still go through, and the guard is closed again after them.
    l.ledger
        .append(
            &[transfer("bank:operating", "fund:bprm", "1.00")],
            "test",
            t0(),
        )
        .await
        .expect("the ledger writes its projections");
    let err = store
        .execute_raw("DELETE FROM postings")
        .await
        .expect_err("closed again");
    assert!(matches!(err, StoreError::Refused(_)), "{err:?}");
}

/// A refusal is known by the database's error code, never by the words of its message: an error
/// that quotes the guards' words is a failure like any other, and a guard's refusal is one
/// whatever its message says.
async fn a_refusal_is_known_by_its_code_not_its_words(l: TestLedger) {
    let store = l.ledger.store();
    // The error names the table, and the name holds the guards' words.
    let sql = r#"SELECT * FROM "is append-only, written only by the ledger""#;
    let err = store.execute_raw(sql).await.expect_err(sql);
    assert_eq!(err.to_string(), "database error");
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    let (make, refuse) = if store.backend_name() == "postgres" {
        (
            // The guards' old code: PostgreSQL raises it for any role that lacks a right, so it
            // is no refusal of the ledger's even with a guard's words.
            vec![
                r#"CREATE FUNCTION old_guard() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN RAISE EXCEPTION 'scratch is append-only: % refused', TG_OP
                       USING ERRCODE = 'insufficient_privilege'; END; $$"#,
                // A guard with the ledger's code (TR002) and a message of its own.
                r#"CREATE FUNCTION new_guard() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN RAISE EXCEPTION 'nein' USING ERRCODE = 'TR002'; END; $$"#,
                "CREATE TABLE scratch (x INTEGER)",
                "CREATE TABLE kept (x INTEGER)",
                "CREATE TRIGGER scratch_old BEFORE INSERT ON scratch
                    FOR EACH STATEMENT EXECUTE FUNCTION old_guard()",
                "CREATE TRIGGER kept_new BEFORE INSERT ON kept
                    FOR EACH STATEMENT EXECUTE FUNCTION new_guard()",
            ],
            Some("INSERT INTO scratch VALUES (1)"),
        )
    } else {
        (
            vec![
                "CREATE TABLE kept (x INTEGER)",
                "CREATE TRIGGER kept_new BEFORE INSERT ON kept
                    BEGIN SELECT RAISE(ABORT, 'nein'); END",
            ],
            None,
        )
    };
    for sql in make {
        store.execute_raw(sql).await.expect(sql);
    }
    if let Some(sql) = refuse {
        let err = store.execute_raw(sql).await.expect_err(sql);
        assert!(matches!(err, StoreError::Database(_)), "{sql}: {err:?}");
    }
    let sql = "INSERT INTO kept VALUES (1)";
    let err = store.execute_raw(sql).await.expect_err(sql);
    assert!(
        matches!(&err, StoreError::Refused(m) if m == "nein"),
        "{sql}: {err:?}"
    );
}

/// A user whose name is taken is refused by the database's unique-key code (`user_exists`), and
/// a failed constraint of another kind stays a failure.
async fn a_taken_user_name_is_refused_by_its_unique_key(l: TestLedger) {
    let store = l.ledger.store();
    let user = |name: &str| tranche_ledger::store::UserRow {
        name: name.into(),
        role: "auditor".into(),
        partner: None,
        created_at: "2026-03-01T00:00:00.000000Z".into(),
        revoked_at: None,
    };
    store
        .create_user(&user("ana"), &[1; 32])
        .await
        .expect("the first ana");
    let err = store
        .create_user(&user("ana"), &[2; 32])
        .await
        .expect_err("a second ana");
    assert!(
        matches!(&err, StoreError::Invalid(i) if i.code == Code::UserExists),
        "{err:?}"
    );
    // A role the schema does not know breaks a CHECK, not a unique key.
    let mut odd = user("bea");
    odd.role = "owner".into();
    let err = store
        .create_user(&odd, &[3; 32])
        .await
        .expect_err("no such role");
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
}

async fn rebuild_check_finds_a_balance_edited_behind_the_ledgers_back(l: TestLedger) {
    let ledger = &l.ledger;
    open_accounts(ledger).await;
    ledger
        .append(
            &[transfer("bank:operating", "fund:bprm", "100.00")],
            "test",
            t0(),
        )
        .await
        .expect("posted");
    let clean = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("check runs");
    assert!(clean.is_clean(), "{:?}", clean.differences);
    ledger
        .store()
        .execute_raw(&behind_the_ledgers_back(
            ledger.store().backend_name(),
            "UPDATE balances SET debit_minor = debit_minor + 1 WHERE account = 'bank:operating'",
        ))
        .await
        .expect("someone who defeats the projection guard on purpose");
    let dirty = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("check runs");
    assert_eq!(dirty.differences_total, 1, "{:?}", dirty.differences);
    assert!(dirty.differences[0].contains("bank:operating"));
    ledger.store().replace_projections().await.expect("rebuild");
    let fixed = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("check runs");
    assert!(fixed.is_clean(), "{:?}", fixed.differences);
    // The running totals the reports read are checked too, and rebuilt.
    let before = ledger
        .store()
        .posting_totals("bank:operating", 0, u64::MAX / 2)
        .await
        .expect("totals");
    assert_eq!(
        before,
        vec![(
            "bank:operating".to_string(),
            "debit".to_string(),
            10000,
            10000
        )]
    );
    ledger
        .store()
        .execute_raw(&behind_the_ledgers_back(
            ledger.store().backend_name(),
            "UPDATE postings SET running_minor = running_minor + 1 WHERE account = 'bank:operating'",
        ))
        .await
        .expect("a projection, guard defeated");
    let dirty = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("check runs");
    assert!(
        dirty
            .differences
            .iter()
            .any(|d| d.contains("running total")),
        "{:?}",
        dirty.differences
    );
    ledger.store().replace_projections().await.expect("rebuild");
    let after = ledger
        .store()
        .posting_totals("bank:operating", 0, u64::MAX / 2)
        .await
        .expect("totals");
    assert_eq!(after, before);
}

async fn two_writers_on_one_database_never_fork_the_chain(l: TestLedger) {
    open_accounts(&l.ledger).await;
    let a = l.ledger.clone();
    let b = l.reopen().await;
    let mut tasks = Vec::new();
    for (w, ledger) in [a, b].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..20 {
                let batch = vec![transfer("bank:operating", "fund:bprm", "1.00"); 1 + (i + w) % 3];
                let done = ledger.append(&batch, "writer", t0()).await.expect("append");
                seqs.extend(done.first_seq..done.first_seq + done.count);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("writer finished"));
    }
    all.sort_unstable();
    let size = l.ledger.store().tree_size().await.expect("size");
    let first = size - all.len() as u64;
    assert_eq!(
        all,
        (first..size).collect::<Vec<_>>(),
        "distinct, gapless seqs"
    );
    let report =
        tranche_ledger::store::rebuild::check(l.ledger.store(), l.ledger.verifier(), |_, _| {})
            .await
            .expect("check");
    assert!(report.is_clean(), "{:?}", report.differences);
}

#[test]
fn stateless_bad_input_names_the_field_and_rule() {
    let leg = |account: &str, side: &str, amount: &str, cur: &str| {
        format!(r#"{{"account":"{account}","currency":"{cur}","side":"{side}","amount":{amount}}}"#)
    };
    let t =
        |postings: Vec<String>| format!(r#"{{"memo":"m","postings":[{}]}}"#, postings.join(","));
    let cases = [
        (
            t(vec![
                leg("a", "debit", "\"1.00\"", "USD"),
                leg("b", "credit", "\"2.00\"", "USD"),
            ]),
            "unbalanced",
            "postings",
        ),
        (
            t(vec![leg("a", "debit", "\"1.00\"", "USD")]),
            "too_few_postings",
            "postings",
        ),
        (
            t(vec![
                leg("a", "debit", "\"0.00\"", "USD"),
                leg("b", "credit", "\"0.00\"", "USD"),
            ]),
            "amount_not_positive",
            "postings[0].amount",
        ),
        (
            t(vec![
                leg("a", "debit", "\"-1.00\"", "USD"),
                leg("b", "credit", "\"-1.00\"", "USD"),
            ]),
            "amount_not_positive",
            "postings[0].amount",
        ),
        (
            t(vec![
                leg("a", "debit", "\"1.005\"", "USD"),
                leg("b", "credit", "\"1.005\"", "USD"),
            ]),
            "too_many_decimals",
            "postings[0].amount",
        ),
        (
            t(vec![
                leg("a", "debit", "\"1.5\"", "CLP"),
                leg("b", "credit", "\"1.5\"", "CLP"),
            ]),
            "too_many_decimals",
            "postings[0].amount",
        ),
        (
            t(vec![
                leg("a", "debit", "\"1.00\"", "XXX"),
                leg("b", "credit", "\"1.00\"", "XXX"),
            ]),
            "unknown_currency",
            "postings[0].currency",
        ),
        (
            t(vec![
                leg("a", "debit", "1.00", "USD"),
                leg("b", "credit", "\"1.00\"", "USD"),
            ]),
            "invalid_field",
            "postings[0].amount",
        ),
        (
            t(vec![
                leg("a b", "debit", "\"1.00\"", "USD"),
                leg("b", "credit", "\"1.00\"", "USD"),
            ]),
            "invalid_account_name",
            "postings[0].account",
        ),
        (
            r#"{"memo":"m","postings":[],"extra":1}"#.to_string(),
            "unknown_field",
            "extra",
        ),
        (
            r#"{"memo":"m","postings":[{"#.to_string(),
            "malformed_json",
            "",
        ),
    ];
    for (json, code, field) in cases {
        let e = stateless(&json);
        assert_eq!(
            (e.code.as_str(), e.field.as_str()),
            (code, field),
            "{json}: {e}"
        );
    }
}

on_both_backends!(
    a_new_ledger_starts_with_its_key_record,
    a_ledger_refuses_a_key_that_is_not_its_own,
    balanced_transactions_update_balances_and_are_provable,
    proofs_beyond_the_tree_are_refused,
    stateful_bad_input_is_refused_and_writes_nothing,
    reversals_must_mirror_and_happen_once,
    a_closed_account_takes_no_postings,
    a_record_over_64_kib_is_refused,
    the_database_refuses_to_edit_history,
    a_refusal_is_known_by_its_code_not_its_words,
    a_taken_user_name_is_refused_by_its_unique_key,
    rebuild_check_finds_a_balance_edited_behind_the_ledgers_back,
    a_journal_edited_with_its_triggers_dropped_is_found,
    two_writers_on_one_database_never_fork_the_chain,
);

/// Someone with the database but not the ledger drops the append-only triggers and edits a
/// journal row (both postings, so the record still balances): `rebuild --check` names the
/// record whose bytes no longer hash to its stored leaf, and the verifier, on the next export,
/// names that record as the one its successor's `prev` no longer matches.
async fn a_journal_edited_with_its_triggers_dropped_is_found(l: TestLedger) {
    let ledger = &l.ledger;
    open_accounts(ledger).await;
    let posted = ledger
        .append(
            &[transfer("bank:operating", "fund:bprm", "100.00")],
            "test",
            t0(),
        )
        .await
        .expect("posted");
    // A later record, so the edited one is in the middle of the journal.
    ledger
        .append(
            &[transfer("bank:operating", "fund:bprm", "5.00")],
            "test",
            t0(),
        )
        .await
        .expect("posted");
    let seq = posted.first_seq;
    let edit = if ledger.store().backend_name() == "sqlite" {
        vec![
            "DROP TRIGGER journal_no_update".to_string(),
            format!(
                "UPDATE journal SET record = CAST(replace(CAST(record AS TEXT), '\"100.00\"', '\"900.00\"') AS BLOB) WHERE seq = {seq}"
            ),
        ]
    } else {
        vec![
            "ALTER TABLE journal DISABLE TRIGGER journal_append_only".to_string(),
            format!(
                "UPDATE journal SET record = convert_to(replace(convert_from(record, 'UTF8'), '\"100.00\"', '\"900.00\"'), 'UTF8') WHERE seq = {seq}"
            ),
        ]
    };
    for sql in &edit {
        let changed = ledger
            .store()
            .execute_raw(sql)
            .await
            .expect("the operator's edit");
        if sql.starts_with("UPDATE") {
            assert_eq!(changed, 1, "{sql}");
        }
    }
    let dirty = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("the check runs to a report");
    // The replay stops at the first record it cannot trust, so the projections after it
    // are reported as unexplained too: the first difference is the one that says why.
    assert_eq!(
        dirty.differences.first().map(String::as_str),
        Some(format!("journal: seq {seq}: stored leaf hash does not match the record").as_str()),
        "rebuild --check names the edited record: {:?}",
        dirty.differences
    );
    let dir = tempfile::tempdir().expect("dir");
    tranche_ledger::service::export::export_dir(ledger, dir.path(), |_, _| {})
        .await
        .expect("export");
    let failure = tranche_audit::verify::verify_dir(
        dir.path(),
        tranche_audit::verify::VerifyOptions {
            vkey: Some(ledger.verifier().clone()),
            progress: None,
            reference_decoder: false,
        },
    )
    .expect_err("the verifier finds the edit");
    match failure {
        tranche_audit::verify::VerifyError::Invalid(f) => {
            assert_eq!(
                (f.seq, f.rule),
                (Some(seq), tranche_audit::verify::rule::PREV_MISMATCH),
                "{f}"
            );
            assert!(
                f.detail.contains(&format!("record {seq} was altered")),
                "{f}"
            );
        }
        other => panic!("expected an invalid export, got {other:?}"),
    }
}
