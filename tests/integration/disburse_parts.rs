//! A batch too large for one record is sent part by part, one append per part, on both
//! backends: it stays approved until its last part holding payments is sent, and then the
//! export verifies offline with the audit crate's verifier (the same lifecycle rules the ledger
//! applied) and rebuilds to the live projections. Reversing an entitlement a sent payment holds
//! is refused, naming the payment.

use tranche_audit::Code;
use tranche_ledger::domain::disburse::{self, BatchStatus, PaymentState};
use tranche_ledger::service::payments::BatchRequest;
use tranche_ledger::Ledger;
use tranche_tests::{on_both_backends, t0, TestLedger};

/// More payments than one part holds (400).
const PAYEES: usize = 450;

async fn append(ledger: &Ledger, commands: &[tranche_ledger::domain::Command], actor: &str) {
    ledger
        .append(commands, actor, t0())
        .await
        .unwrap_or_else(|e| panic!("{actor}: {e}"));
}

async fn status(ledger: &Ledger, batch: &tranche_audit::programme::Id) -> BatchStatus {
    ledger
        .store()
        .programme()
        .await
        .expect("state")
        .disburse
        .batches[batch]
        .status
}

async fn a_batch_of_several_parts_is_sent_part_by_part_and_verifies(t: TestLedger) {
    let ledger = &t.ledger;
    let fx = tranche_ledger::testkit::fixture::payables_programme(
        ledger,
        "parts",
        PAYEES,
        "user:setup",
        t0(),
        &mut |_, _| {},
    )
    .await
    .expect("fixture");
    let plan = ledger
        .plan_batch(&BatchRequest {
            award: fx.award.to_string(),
            filter: Default::default(),
        })
        .await
        .expect("a batch");
    append(ledger, &plan.commands, "user:prep").await;
    let b = plan.batch.clone();
    let payment_parts = {
        let st = ledger.store().programme().await.expect("state");
        let batch = &st.disburse.batches[&b];
        assert_eq!(batch.payments.len(), PAYEES);
        batch.part_ranges.iter().filter(|r| !r.is_empty()).count()
    };
    assert!(payment_parts >= 2, "{payment_parts} part(s) hold payments");

    let submit = ledger.submit_command(&b).await.expect("submit");
    append(ledger, &[submit], "user:prep").await;
    // 450 stipends of 60.00 are above the default 25,000.00: two approvers.
    for approver in ["user:ana", "user:beto"] {
        let c = ledger
            .decision_command(&b, true, Some(&plan.digest), None)
            .await
            .expect("decision");
        append(ledger, &[c], approver).await;
    }
    assert_eq!(status(ledger, &b).await, BatchStatus::Approved);
    let file = ledger
        .bank_file(&b, "csv", t0(), None)
        .await
        .expect("a bank file");
    append(
        ledger,
        &file.record.into_iter().collect::<Vec<_>>(),
        "user:prep",
    )
    .await;

    let sends = ledger
        .send_commands(
            &b,
            None,
            Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 2).expect("a date")),
        )
        .await
        .expect("send");
    assert_eq!(sends.len(), payment_parts);
    for (i, part) in sends.iter().enumerate() {
        assert_eq!(
            status(ledger, &b).await,
            BatchStatus::Approved,
            "before part {i}"
        );
        append(ledger, std::slice::from_ref(part), "user:ana").await;
    }
    assert_eq!(status(ledger, &b).await, BatchStatus::Sent);

    // The whole journal verifies offline, and rebuilds to what the ledger holds.
    let dir = tempfile::tempdir().expect("dir");
    tranche_ledger::service::export::export_dir(ledger, dir.path(), |_, _| {})
        .await
        .expect("export");
    let summary = tranche_audit::verify::verify_dir(
        dir.path(),
        tranche_audit::verify::VerifyOptions {
            vkey: Some(ledger.verifier().clone()),
            progress: None,
            reference_decoder: false,
        },
    )
    .unwrap_or_else(|e| panic!("the export verifies: {e}"));
    assert_eq!((summary.batches, summary.payments), (1, PAYEES as u64));
    let check = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("check");
    assert!(check.differences.is_empty(), "{:?}", check.differences);

    // The last payment's entitlement went out with the last part: it cannot be reversed.
    let st = ledger.store().programme().await.expect("state");
    let last = st.disburse.payments.last().expect("payments");
    assert_eq!(last.state, PaymentState::Sent);
    let e = disburse::check_reversal(&st.disburse, last.items[0]).expect_err("paid");
    assert_eq!(
        (e.code, e.field.as_str()),
        (Code::EntitlementPaid, "reverses")
    );
    assert!(e.detail.contains(&last.e2e), "{}", e.detail);
}

on_both_backends!(a_batch_of_several_parts_is_sent_part_by_part_and_verifies);
