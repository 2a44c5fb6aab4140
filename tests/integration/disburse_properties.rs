//! Properties of disbursement over random interleavings of batch creation, submission,
//! approval, rejection, cancellation, bank files, sending, status imports (with any mix of
//! outcomes, valid or not), duplicate imports, retried requests and reissues: no entitlement is
//! ever paid twice or held by two live payments, no payment is lost, payments in transit equal
//! what was sent and not yet confirmed or returned, the bank holds the drawdown less what was
//! confirmed, every payable holds what was earned less what left, rebuilt equals live, and the
//! offline verifier accepts every journal the ledger accepted.

use std::collections::HashMap;

use proptest::prelude::*;
use tranche_ledger::domain::disburse::{BatchStatus, PaymentState};
use tranche_ledger::domain::Command;
use tranche_ledger::service::payments::BatchRequest;
use tranche_ledger::Ledger;
use tranche_tests::{t0, Backend};

#[derive(Debug, Clone)]
enum Op {
    /// A batch of every open payable, or of some payees.
    Create(Option<Vec<usize>>),
    Submit(usize),
    Approve(usize, usize),
    Reject(usize),
    Cancel(usize),
    File(usize),
    Send(usize),
    /// A status CSV for some payments: (payment pick, status pick).
    Status(Vec<(usize, u8)>),
    /// The last status file again.
    DuplicateImport,
    /// The last write again, as a retried request would.
    Retry,
    /// The next step of a batch's life: submit, approve (by this approver), file, send.
    Advance(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::option::of(proptest::collection::vec(0usize..6, 1..4)).prop_map(Op::Create),
        3 => (0usize..4).prop_map(Op::Submit),
        4 => (0usize..4, 0usize..3).prop_map(|(b, a)| Op::Approve(b, a)),
        1 => (0usize..4).prop_map(Op::Reject),
        1 => (0usize..4).prop_map(Op::Cancel),
        3 => (0usize..4).prop_map(Op::File),
        3 => (0usize..4).prop_map(Op::Send),
        4 => proptest::collection::vec((0usize..40, 0u8..5), 1..6).prop_map(Op::Status),
        1 => Just(Op::DuplicateImport),
        2 => Just(Op::Retry),
        12 => (0usize..4, 0usize..3).prop_map(|(b, a)| Op::Advance(b, a)),
    ]
}

const APPROVERS: [&str; 3] = ["user:ana", "user:beto", "user:caro"];
/// Who sends approved batches to the bank (an approver who did not prepare them).
const RELEASER: &str = "user:dani";

async fn append(ledger: &Ledger, commands: &[Command], actor: &str) -> bool {
    !commands.is_empty() && ledger.append(commands, actor, t0()).await.is_ok()
}

async fn run(ops: Vec<Op>, dual_above_two: bool) {
    let t = tranche_tests::ledger(Backend::Sqlite)
        .await
        .expect("sqlite");
    let ledger: &Ledger = &t.ledger;
    let fx = tranche_ledger::testkit::fixture::payables_programme(
        ledger,
        "prop",
        6,
        "user:setup",
        t0(),
        &mut |_, _| {},
    )
    .await
    .expect("fixture");
    if dual_above_two {
        // Batches of more than two stipends need two approvers.
        let mut body = ledger
            .store()
            .programme()
            .await
            .expect("state")
            .disburse
            .settings[&fx.award]
            .body
            .clone();
        body.dual_approval_above = "120.00".into();
        let settings = Ledger::settings_command(body).expect("the fixture's accounts");
        append(ledger, &[settings], "user:admin").await;
    }
    let award = fx.award.to_string();
    let mut batches: Vec<tranche_audit::programme::Id> = Vec::new();
    let mut last: Option<(Vec<Command>, String)> = None;
    let mut last_file: Option<Vec<u8>> = None;
    for op in ops {
        let pick = |i: usize| batches.get(i % batches.len().max(1)).cloned();
        match op {
            Op::Create(payees) => {
                let filter = tranche_audit::disburse::BatchFilter {
                    payees: payees.map(|l| {
                        l.iter()
                            .map(|i| {
                                format!(
                                    "participant:{}",
                                    fx.participants[i % fx.participants.len()]
                                )
                            })
                            .collect()
                    }),
                    ..Default::default()
                };
                if let Ok(plan) = ledger
                    .plan_batch(&BatchRequest {
                        award: award.clone(),
                        filter,
                    })
                    .await
                {
                    if append(ledger, &plan.commands, "user:prep").await {
                        batches.push(plan.batch.clone());
                        last = Some((plan.commands, "user:prep".into()));
                    }
                }
            }
            Op::Submit(b) => {
                if let Some(b) = pick(b) {
                    if let Ok(c) = ledger.submit_command(&b).await {
                        if append(ledger, std::slice::from_ref(&c), "user:prep").await {
                            last = Some((vec![c], "user:prep".into()));
                        }
                    }
                }
            }
            Op::Advance(b, a) => {
                let Some(b) = pick(b) else { continue };
                let (status, files) = {
                    let st = ledger.store().programme().await.expect("state");
                    let batch = &st.disburse.batches[&b];
                    (batch.status, batch.files.len())
                };
                let (cmds, actor): (Vec<Command>, &str) = match status {
                    BatchStatus::Draft => match ledger.submit_command(&b).await {
                        Ok(c) => (vec![c], "user:prep"),
                        Err(_) => continue,
                    },
                    BatchStatus::Submitted => (
                        vec![ledger
                            .decision_command(&b, true, None, None)
                            .await
                            .expect("known")],
                        APPROVERS[a],
                    ),
                    BatchStatus::Approved if files == 0 => {
                        match ledger.bank_file(&b, "csv", t0(), None).await {
                            Ok(f) => (f.record.into_iter().collect(), "user:prep"),
                            Err(_) => continue,
                        }
                    }
                    BatchStatus::Approved => match ledger
                        .send_commands(
                            &b,
                            None,
                            Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 2).expect("a date")),
                        )
                        .await
                    {
                        Ok(c) => (c, RELEASER),
                        Err(_) => continue,
                    },
                    _ => continue,
                };
                if append(ledger, &cmds, actor).await {
                    last = Some((cmds, actor.into()));
                }
            }
            Op::Approve(b, a) => {
                if let Some(b) = pick(b) {
                    let c = ledger
                        .decision_command(&b, true, None, None)
                        .await
                        .expect("known");
                    if append(ledger, std::slice::from_ref(&c), APPROVERS[a]).await {
                        last = Some((vec![c], APPROVERS[a].into()));
                    }
                }
            }
            Op::Reject(b) => {
                if let Some(b) = pick(b) {
                    let c = ledger
                        .decision_command(&b, false, None, Some("not this month".into()))
                        .await
                        .expect("known");
                    if append(ledger, std::slice::from_ref(&c), APPROVERS[2]).await {
                        last = Some((vec![c], APPROVERS[2].into()));
                    }
                }
            }
            Op::Cancel(b) => {
                if let Some(b) = pick(b) {
                    let c = ledger
                        .cancel_command(&b, "withdrawn".into())
                        .await
                        .expect("known");
                    if append(ledger, std::slice::from_ref(&c), "user:prep").await {
                        last = Some((vec![c], "user:prep".into()));
                    }
                }
            }
            Op::File(b) => {
                if let Some(b) = pick(b) {
                    if let Ok(f) = ledger.bank_file(&b, "csv", t0(), None).await {
                        if let Some(c) = f.record {
                            if append(ledger, std::slice::from_ref(&c), "user:prep").await {
                                last = Some((vec![c], "user:prep".into()));
                            }
                        }
                    }
                }
            }
            Op::Send(b) => {
                if let Some(b) = pick(b) {
                    if let Ok(cmds) = ledger
                        .send_commands(
                            &b,
                            None,
                            Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 2).expect("a date")),
                        )
                        .await
                    {
                        // The batch's preparer never releases it, whatever its state.
                        assert!(
                            !append(ledger, &cmds, "user:prep").await,
                            "the preparer sent batch {b}"
                        );
                        if append(ledger, &cmds, RELEASER).await {
                            last = Some((cmds, RELEASER.into()));
                        }
                    }
                }
            }
            Op::Status(lines) => {
                let payments: Vec<(String, String)> = {
                    let st = ledger.store().programme().await.expect("state");
                    st.disburse
                        .payments
                        .iter()
                        .map(|p| {
                            (
                                p.e2e.clone(),
                                format!("{}.{:02}", p.amount / 100, p.amount % 100),
                            )
                        })
                        .collect()
                };
                if payments.is_empty() {
                    continue;
                }
                let mut csv = String::from("end_to_end_id,status,amount,currency,reason,date\n");
                for (p, s) in lines {
                    let (e2e, amount) = &payments[p % payments.len()];
                    let status =
                        ["accepted", "booked", "rejected", "returned", "booked"][s as usize];
                    let amount = if s == 4 { "0.01" } else { amount.as_str() };
                    csv.push_str(&format!("{e2e},{status},{amount},USD,AC04,\n"));
                }
                let bytes = csv.into_bytes();
                if let Ok(plan) = ledger
                    .plan_import(
                        &bytes,
                        Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 6).expect("a date")),
                    )
                    .await
                {
                    if append(ledger, &plan.commands, "user:prep").await {
                        last = Some((plan.commands, "user:prep".into()));
                    }
                }
                last_file = Some(bytes);
            }
            Op::DuplicateImport => {
                if let Some(bytes) = &last_file {
                    if let Ok(plan) = ledger
                        .plan_import(
                            bytes,
                            Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 6).expect("a date")),
                        )
                        .await
                    {
                        let before = ledger.store().tree_size().await.expect("size");
                        if plan.report.already_imported {
                            assert!(plan.commands.is_empty());
                        }
                        append(ledger, &plan.commands, "user:prep").await;
                        if plan.report.already_imported {
                            assert_eq!(ledger.store().tree_size().await.expect("size"), before);
                        }
                    }
                }
            }
            Op::Retry => {
                if let Some((cmds, actor)) = &last {
                    let before = ledger.store().tree_size().await.expect("size");
                    let again = ledger.append(cmds, actor, t0()).await;
                    assert!(
                        again.is_err(),
                        "a retried write was applied twice: {cmds:?}"
                    );
                    assert_eq!(ledger.store().tree_size().await.expect("size"), before);
                }
            }
        }
        check(ledger, &fx).await;
    }
    let check = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("check");
    assert!(check.differences.is_empty(), "{:?}", check.differences);
    // Whatever the ledger accepted, the offline verifier accepts: both apply one lifecycle.
    let dir = tempfile::tempdir().expect("dir");
    tranche_ledger::service::export::export_dir(ledger, dir.path(), |_, _| {})
        .await
        .expect("export");
    if let Err(e) = tranche_audit::verify::verify_dir(
        dir.path(),
        tranche_audit::verify::VerifyOptions {
            vkey: Some(ledger.verifier().clone()),
            progress: None,
            reference_decoder: false,
        },
    ) {
        panic!("a journal the ledger accepted fails verification: {e}");
    }
}

async fn net(ledger: &Ledger, account: &str) -> i64 {
    ledger
        .store()
        .balances(account)
        .await
        .expect("balances")
        .iter()
        .filter(|r| r.account == account)
        .map(|r| r.debit_minor - r.credit_minor)
        .sum()
}

async fn check(ledger: &Ledger, fx: &tranche_ledger::testkit::fixture::Fixture) {
    let award = fx.award.as_str();
    let (in_transit, confirmed, left): (i64, i64, HashMap<String, i64>) = {
        let st = ledger.store().programme().await.expect("state");
        let d = &st.disburse;
        // Each entitlement is held by at most one live payment and paid at most once.
        let mut holders: HashMap<u64, Vec<&str>> = HashMap::new();
        let mut paid: HashMap<u64, u32> = HashMap::new();
        for p in &d.payments {
            let live = matches!(
                p.state,
                PaymentState::Pending
                    | PaymentState::Sent
                    | PaymentState::Accepted
                    | PaymentState::Confirmed
            );
            for item in &p.items {
                if live {
                    holders.entry(*item).or_default().push(&p.e2e);
                }
                if p.state == PaymentState::Confirmed {
                    *paid.entry(*item).or_default() += 1;
                }
            }
            // No payment is lost: its batch knows it, and a payment out of a sent batch is
            // never pending.
            let b = &d.batches[&p.batch];
            assert!(b
                .payments
                .iter()
                .any(|&i| d.payments[i as usize].e2e == p.e2e));
            if b.status == BatchStatus::Sent {
                assert!(
                    !matches!(p.state, PaymentState::Pending | PaymentState::Withdrawn),
                    "{}",
                    p.e2e
                );
            }
            if matches!(b.status, BatchStatus::Rejected | BatchStatus::Cancelled) {
                assert_eq!(p.state, PaymentState::Withdrawn, "{}", p.e2e);
            }
        }
        for (item, h) in &holders {
            assert!(h.len() <= 1, "entitlement {item} is held by {h:?}");
            let it = &d.items[item];
            assert_eq!(
                it.payment.map(|i| d.payments[i as usize].e2e.as_str()),
                h.first().copied()
            );
        }
        for (item, n) in &paid {
            assert!(*n <= 1, "entitlement {item} paid {n} times");
        }
        for (seq, it) in &d.items {
            if it.payment.is_none() {
                assert!(!holders.contains_key(seq), "{seq}");
            }
        }
        let sum = |states: &[PaymentState]| -> i64 {
            d.payments
                .iter()
                .filter(|p| states.contains(&p.state))
                .map(|p| p.amount)
                .sum()
        };
        let mut left: HashMap<String, i64> = HashMap::new();
        for p in &d.payments {
            if matches!(
                p.state,
                PaymentState::Sent | PaymentState::Accepted | PaymentState::Confirmed
            ) {
                *left.entry(p.payable.clone()).or_default() += p.amount;
            }
        }
        (
            sum(&[PaymentState::Sent, PaymentState::Accepted]),
            sum(&[PaymentState::Confirmed]),
            left,
        )
    };
    assert_eq!(
        -net(ledger, &format!("transit:{award}")).await,
        in_transit,
        "in transit"
    );
    assert_eq!(
        net(ledger, &format!("bank:{award}")).await,
        fx.drawdown_minor - confirmed,
        "bank"
    );
    for p in &fx.participants {
        let account = format!("payable:{award}:participant:{p}");
        let owed = -net(ledger, &account).await;
        assert_eq!(
            owed,
            fx.stipend_minor - left.get(&account).copied().unwrap_or(0),
            "{account}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn nothing_is_paid_twice_or_lost(ops in proptest::collection::vec(op(), 10..60), dual in any::<bool>()) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(run(ops, dual));
    }
}
