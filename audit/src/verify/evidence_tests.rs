//! The fast decoder's reading of `evidence` records: it accepts only what the reference decoder
//! accepts and finds valid, with the same values, and the statement bytes it verifies the
//! signature over are exactly `Statement::signed_message`.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::programme::{
    Date, EvidenceItem, Id, Milestone, Outcome, Presence, Statement, EVIDENCE_DOMAIN,
};
use crate::record::Record;
use crate::synth::{lines_with, partner_signer, Shape};

/// What the verifier reads with the fast decoder.
fn fast_read(line: &[u8]) -> Option<View<'_>> {
    fast::parse(line).or_else(|| fast::parse_evidence(line))
}

fn id(text: &str) -> Id {
    Id::parse(text).expect("a valid id")
}

fn date(text: &str) -> Date {
    Date::parse(text).expect("a valid date")
}

/// A statement holding every item type.
fn every_item_type() -> Statement {
    Statement {
        partner: id("training-partner.1"),
        batch_id: id("B_2026-03-08"),
        items: vec![
            EvidenceItem::Enrolment {
                participant: id("P-000001"),
                cohort: id("C-1"),
                date: date("2026-03-01"),
            },
            EvidenceItem::Attendance {
                participant: id("P-000001"),
                session: id("S-001-01"),
                status: Presence::Present,
            },
            EvidenceItem::AttendanceCorrection {
                participant: id("P-000002"),
                session: id("S-001-01"),
                status: Presence::Absent,
            },
            EvidenceItem::Certification {
                participant: id("P-000001"),
                course: id("safety.101"),
                result: Outcome::Passed,
                date: date("2024-02-29"),
            },
            EvidenceItem::Milestone {
                participant: id("P-000003"),
                milestone: Milestone::PlanApproved,
                result: Outcome::Failed,
                date: date("2026-12-31"),
            },
            EvidenceItem::Milestone {
                participant: id("P-000003"),
                milestone: Milestone::Tranche1,
                result: Outcome::Passed,
                date: date("1999-01-01"),
            },
            EvidenceItem::Milestone {
                participant: id("P-000003"),
                milestone: Milestone::Tranche2,
                result: Outcome::Passed,
                date: date("2027-01-01"),
            },
        ],
        submitted_at: "2026-03-08T12:00:00Z".to_string(),
    }
}

fn evidence_line(body: Value) -> Vec<u8> {
    Record {
        seq: 42,
        prev: [0x17; 32],
        kind: kind::EVIDENCE.to_string(),
        at: DateTime::from_timestamp_micros(1_772_359_200_000_000).expect("in range"),
        actor: "partner:Ñandú".to_string(),
        body,
    }
    .encode()
    .expect("a small record encodes")
}

/// Asserts that what the fast decoder read agrees with the reference decoding of the line.
fn assert_agrees(line: &[u8], fast: View<'_>) {
    let reference = reference_view(line).expect("the reference decodes what the fast path reads");
    let Body::Evidence(e) = &fast.body else {
        assert_eq!(fast, reference);
        return;
    };
    let Body::Programme(b) = &reference.body else {
        panic!(
            "the reference reads an evidence body as {:?}",
            reference.body
        );
    };
    let ProgrammeBody::Evidence(b) = b.as_ref() else {
        panic!("the reference reads another programme body: {b:?}");
    };
    b.check()
        .expect("the fast path reads only bodies that pass the stateless checks");
    let st = &b.statement;
    assert_eq!(e.view.partner, st.partner.as_str());
    assert_eq!(e.view.batch_id, st.batch_id.as_str());
    assert_eq!(e.view.items, st.items.len() as u64);
    assert_eq!(e.view.key_id, b.key_id);
    {
        use base64::Engine as _;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&b.signature)
            .expect("base64");
        assert_eq!(e.signature.as_slice(), sig.as_slice());
    }
    let mut message = EVIDENCE_DOMAIN.to_vec();
    message.extend_from_slice(e.statement.as_bytes());
    assert_eq!(
        message,
        st.signed_message(),
        "the statement's bytes in the line are its signed message"
    );
    assert_eq!(
        (fast.seq, fast.prev, &fast.kind, &fast.at, &fast.actor),
        (
            reference.seq,
            reference.prev,
            &reference.kind,
            &reference.at,
            &reference.actor
        )
    );
}

#[test]
fn every_synthetic_evidence_line_takes_the_fast_path_with_the_reference_values() {
    let mut evidence = 0;
    for line in lines_with(1_000, Shape::WITH_EVIDENCE) {
        let Some(fast) = fast_read(&line) else {
            // Only the partner's registration and key are left to the reference.
            let reference = reference_view(&line).expect("a valid record");
            assert!(
                matches!(&reference.body, Body::Programme(_)),
                "{reference:?}"
            );
            assert_ne!(reference.kind, kind::EVIDENCE);
            continue;
        };
        evidence += usize::from(matches!(fast.body, Body::Evidence(_)));
        assert_agrees(&line, fast);
    }
    assert_eq!(evidence, 9, "seqs 100, 200, …, 900");
}

#[test]
fn every_item_type_is_read_by_the_fast_path_and_signed_over_the_line_bytes() {
    let body = every_item_type().sign(&partner_signer());
    let line = evidence_line(serde_json::to_value(&body).expect("plain data"));
    let fast = fast_read(&line).expect("a valid evidence record takes the fast path");
    assert!(matches!(fast.body, Body::Evidence(_)));
    assert_agrees(&line, fast.clone());
    let Body::Evidence(e) = &fast.body else {
        unreachable!()
    };
    let mut message = EVIDENCE_DOMAIN.to_vec();
    message.extend_from_slice(e.statement.as_bytes());
    let key = partner_signer().verifying_key();
    key.verify_strict(
        &message,
        &ed25519_dalek::Signature::from_bytes(&e.signature),
    )
    .expect("the partner's signature verifies over the bytes in the line");
}

/// What the fast path cannot or must not judge goes to the reference, which decides.
#[test]
fn the_fast_path_defers_invalid_or_unusual_statements_to_the_reference() {
    let signed = serde_json::to_value(every_item_type().sign(&partner_signer())).expect("data");
    let edits: Vec<fn(&mut Value)> = vec![
        // Not an id: a non-ASCII letter, an escaped quote, a control character, too long.
        |b| b["statement"]["partner"] = json!("Ñandú"),
        |b| b["statement"]["batch_id"] = json!("B\"1"),
        |b| b["statement"]["items"][1]["session"] = json!("S\n1"),
        |b| b["statement"]["items"][0]["participant"] = json!("P".repeat(65)),
        // Not a date, a date before the fast path's years, an unknown status or type.
        |b| b["statement"]["items"][0]["date"] = json!("2026-02-30"),
        |b| b["statement"]["items"][0]["date"] = json!("0999-01-01"),
        |b| b["statement"]["items"][1]["status"] = json!("late"),
        |b| b["statement"]["items"][1]["type"] = json!("attendence"),
        // A missing or an unknown field, no items, too many items.
        |b| {
            b["statement"]["items"][2]
                .as_object_mut()
                .expect("an item")
                .remove("status");
        },
        |b| b["statement"]["items"][2]["note"] = json!("x"),
        |b| b["statement"]["extra"] = json!("x"),
        |b| b["extra"] = json!("x"),
        |b| b["statement"]["items"] = json!([]),
        |b| {
            let item = b["statement"]["items"][1].clone();
            b["statement"]["items"] = Value::Array(vec![item; MAX_STATEMENT_ITEMS_PLUS_ONE]);
        },
        // A bad submission time, key id or signature.
        |b| b["statement"]["submitted_at"] = json!("2026-03-08T12:00:00+00:00"),
        |b| b["key_id"] = json!("ABCDEF0123456789"),
        |b| b["signature"] = json!("AAAA"),
        |b| b["signature"] = json!(7),
    ];
    for edit in edits {
        let mut body = signed.clone();
        edit(&mut body);
        let line = evidence_line(body.clone());
        assert!(fast_read(&line).is_none(), "{body}");
        let reference = reference_view(&line).expect("a well-formed record");
        let valid = match &reference.body {
            Body::Programme(p) => match p.as_ref() {
                ProgrammeBody::Evidence(b) => b.check().is_ok(),
                other => panic!("{other:?}"),
            },
            Body::Invalid(_) => false,
            other => panic!("{other:?}"),
        };
        // The only edit that stays valid is the early date, which the reference judges.
        assert_eq!(valid, body.to_string().contains("0999-01-01"), "{body}");
    }
    // A statement written with an escape the canonical form does not use is not canonical.
    let line = String::from_utf8(evidence_line(signed)).expect("UTF-8");
    let escaped = line.replacen("\"batch_id\":\"B", "\"batch_id\":\"\\u0042", 1);
    assert!(fast_read(escaped.as_bytes()).is_none());
    assert!(matches!(
        reference_view(escaped.as_bytes()),
        Err((rule::NON_CANONICAL, _))
    ));
}

const MAX_STATEMENT_ITEMS_PLUS_ONE: usize = crate::programme::MAX_STATEMENT_ITEMS + 1;

#[test]
fn the_fast_and_reference_decoders_verify_an_export_with_evidence_alike() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    crate::synth::write_export_with(dir.path(), 2_345, Shape::WITH_EVIDENCE).expect("written");
    let verify = |reference_decoder| {
        let opts = VerifyOptions {
            reference_decoder,
            ..VerifyOptions::default()
        };
        verify_dir(dir.path(), opts).expect("the export verifies")
    };
    let (fast, reference) = (verify(false), verify(true));
    assert_eq!(fast.evidence_statements, 23);
    assert_eq!(fast.evidence_statements, reference.evidence_statements);
    assert_eq!(fast.evidence_items, reference.evidence_items);
    assert_eq!(fast.root, reference.root);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    /// An evidence line edited once or twice anywhere is read by the fast path only if the
    /// reference reads the same values and finds the body valid.
    #[test]
    fn an_edited_evidence_line_is_read_by_the_fast_path_only_if_the_reference_agrees(
        which in 0usize..2,
        edits in prop::collection::vec(
            (0u8..6, any::<usize>(), prop_oneof![
                any::<u8>(),
                prop::sample::select(b"\"\\:,{}[]0 1-aAZ".to_vec())
            ]),
            1..3,
        ),
    ) {
        static LINES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        let lines = LINES.get_or_init(|| {
            let signed = every_item_type().sign(&partner_signer());
            let synthetic = lines_with(101, Shape::WITH_EVIDENCE).last().expect("seq 100");
            vec![evidence_line(serde_json::to_value(signed).expect("data")), synthetic]
        });
        let mut line = lines[which].clone();
        for (how, at, byte) in edits {
            let at = at % line.len();
            match how {
                0 | 1 => line[at] = byte,
                2 => line.insert(at, byte),
                3 => { line.remove(at); }
                4 => line[at] ^= 0x20,
                _ => line[at] ^= 0x01,
            }
        }
        if let Some(fast) = fast_read(&line) {
            assert_agrees(&line, fast);
        }
    }
}
