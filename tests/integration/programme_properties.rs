//! Properties of cycles over random evidence: whatever attendance arrives, corrected or late,
//! in whatever months, no participant's C4T total ever exceeds the cap of the rule, no budget
//! line is overdrawn, every payable owed equals what was expensed, and rebuilt equals live.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use tranche_audit::programme::{
    partner_key_id, public_key_text, AwardOpenBody, BudgetLine, CohortOpenBody, Date, EvidenceItem,
    Id, KeyAction, PartnerKeyBody, PartnerRegisterBody, Pathway, Period, Presence, RuleParams,
    RuleVersionBody, SessionBody, Statement,
};
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::service::programme::{
    award_commands, CohortInput, ParticipantInput, SeededRandom,
};
use tranche_ledger::Ledger;
use tranche_tests::{t0, Backend};

fn id(s: &str) -> Id {
    Id::parse(s).expect("valid")
}

fn money(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// One random programme: amounts, cap, budget, and per participant and session a status
/// (0 missing, 1 present, 2 absent), plus corrections that arrive after the first cycles.
#[derive(Debug, Clone)]
struct Case {
    amount: u64,
    cap_months: u64,
    cap_extra: u64,
    budget: u64,
    participants: usize,
    sessions_per_month: usize,
    statuses: Vec<u8>,
    corrections: Vec<(usize, usize)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1_000u64..10_000,
        1u64..4,
        0u64..5_000,
        500u64..30_000,
        1usize..7,
        3usize..9,
    )
        .prop_flat_map(
            |(amount, cap_months, cap_extra, budget, participants, spm)| {
                let cells = participants * spm * 3;
                (
                    Just((amount, cap_months, cap_extra, budget, participants, spm)),
                    proptest::collection::vec(0u8..3, cells),
                    proptest::collection::vec((0..participants, 0..spm * 3), 0..6),
                )
            },
        )
        .prop_map(
            |(
                (amount, cap_months, cap_extra, budget, participants, spm),
                statuses,
                corrections,
            )| Case {
                amount,
                cap_months,
                cap_extra,
                budget,
                participants,
                sessions_per_month: spm,
                statuses,
                corrections,
            },
        )
}

async fn run(case: Case) {
    let t = tranche_tests::ledger(Backend::Sqlite)
        .await
        .expect("sqlite");
    let ledger: &Ledger = &t.ledger;
    let award = id("prop");
    let cap = case.amount * case.cap_months + case.cap_extra;
    let body = AwardOpenBody {
        utc_offset: None,
        provinces: None,
        pathways: None,
        age_bands: None,
        liquidation_days: None,
        future_days: None,
        award: award.clone(),
        donor: "BPRM".into(),
        currency: "USD".into(),
        total: money(case.budget + 100),
        start: Date::parse("2026-01-01").expect("date"),
        end: Date::parse("2026-12-31").expect("date"),
        budget_lines: vec![
            BudgetLine {
                line: id("c4t"),
                name: "C4T".into(),
                authorised: money(case.budget),
                participant_support: true,
            },
            BudgetLine {
                line: id("admin"),
                name: "Admin".into(),
                authorised: money(100),
                participant_support: false,
            },
        ],
    };
    let key = SigningKey::from_bytes(&[5; 32]);
    let vk = key.verifying_key();
    let mut setup = award_commands(body).expect("award");
    setup.push(Command::Programme(ProgrammeCommand::PartnerRegister(
        PartnerRegisterBody {
            partner: id("p"),
            name: "Partner".into(),
        },
    )));
    setup.push(Command::Programme(ProgrammeCommand::PartnerKey(
        PartnerKeyBody {
            partner: id("p"),
            action: KeyAction::Register,
            key_id: partner_key_id(&vk),
            public_key: Some(public_key_text(&vk)),
            replaces: None,
        },
    )));
    let months = ["2026-02", "2026-03", "2026-04"];
    let mut sessions = Vec::new();
    for (m, month) in months.iter().enumerate() {
        for s in 0..case.sessions_per_month {
            sessions.push(SessionBody {
                session: id(&format!("s{m}-{s}")),
                date: Date::parse(&format!("{month}-{:02}", s + 2)).expect("date"),
            });
        }
    }
    setup.extend(
        ledger
            .cohort_commands(CohortInput {
                cohort: CohortOpenBody {
                    cohort: id("c"),
                    award: award.clone(),
                    partner: id("p"),
                    pathway: Pathway::Employability,
                    name: "Cohort".into(),
                    course: None,
                    provider: None,
                },
                sessions: sessions.clone(),
            })
            .await
            .expect("cohort"),
    );
    setup.push(Command::Programme(ProgrammeCommand::RuleVersion(
        RuleVersionBody {
            award: award.clone(),
            rule: id("c4t"),
            version: 1,
            effective: Date::parse("2026-01-01").expect("date"),
            params: RuleParams::C4tMonthly {
                line: id("c4t"),
                amount: money(case.amount),
                full_from_percent: 80,
                partial_from_percent: 60,
                cap: money(cap),
            },
        },
    )));
    let inputs: Vec<ParticipantInput> = (0..case.participants)
        .map(|i| ParticipantInput {
            award: "prop".into(),
            partner: None,
            name: format!("P{i}"),
            document: format!("DOC{i:05}"),
            phone: None,
            bank_account: None,
            sex: None,
            nationality: None,
            province: None,
            pathway: None,
            age_band: None,
        })
        .collect();
    let (cmds, ids) = ledger
        .participant_commands(
            &inputs,
            Some(&id("p")),
            &Default::default(),
            &mut SeededRandom(1),
        )
        .expect("participants");
    setup.extend(cmds);
    ledger.append(&setup, "test", t0()).await.expect("setup");
    let sign = |batch: &str, items: Vec<EvidenceItem>| {
        Command::Programme(ProgrammeCommand::Evidence(Box::new(
            Statement {
                partner: id("p"),
                batch_id: id(batch),
                items,
                submitted_at: "2026-05-01T00:00:00Z".into(),
            }
            .sign(&key),
        )))
    };
    let enrol = ids
        .iter()
        .map(|p| EvidenceItem::Enrolment {
            participant: p.clone(),
            cohort: id("c"),
            date: Date::parse("2026-01-15").expect("date"),
        })
        .collect();
    let mut items = Vec::new();
    for (pi, p) in ids.iter().enumerate() {
        for (si, s) in sessions.iter().enumerate() {
            let status = case.statuses[pi * sessions.len() + si];
            if status > 0 {
                items.push(EvidenceItem::Attendance {
                    participant: p.clone(),
                    session: s.session.clone(),
                    status: if status == 1 {
                        Presence::Present
                    } else {
                        Presence::Absent
                    },
                });
            }
        }
    }
    let mut evidence = vec![sign("enrol", enrol)];
    for (i, chunk) in items.chunks(400).enumerate() {
        evidence.push(sign(&format!("att-{i}"), chunk.to_vec()));
    }
    ledger.append(&evidence, "p", t0()).await.expect("evidence");
    for m in months {
        ledger
            .run_cycle(
                &award,
                Period::parse(m).expect("period"),
                "test",
                t0(),
                &mut |_, _| {},
            )
            .await
            .expect("cycle");
    }
    // Corrections and late attendance, then every month again.
    let mut fixes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (pi, si) in &case.corrections {
        if !seen.insert((*pi, *si)) {
            continue;
        }
        let status = case.statuses[pi * sessions.len() + si];
        let (participant, session) = (ids[*pi].clone(), sessions[*si].session.clone());
        fixes.push(match status {
            0 => EvidenceItem::Attendance {
                participant,
                session,
                status: Presence::Present,
            },
            1 => EvidenceItem::AttendanceCorrection {
                participant,
                session,
                status: Presence::Absent,
            },
            _ => EvidenceItem::AttendanceCorrection {
                participant,
                session,
                status: Presence::Present,
            },
        });
    }
    if !fixes.is_empty() {
        ledger
            .append(&[sign("fixes", fixes)], "p", t0())
            .await
            .expect("fixes");
    }
    for m in months {
        ledger
            .run_cycle(
                &award,
                Period::parse(m).expect("period"),
                "test",
                t0(),
                &mut |_, _| {},
            )
            .await
            .expect("cycle again");
    }
    // No participant's live C4T total exceeds the cap; what they are owed is what was expensed.
    let mut owed = 0i64;
    {
        let st = ledger.store().programme().await.expect("state");
        for p in &ids {
            let total = st.participant(p).expect("registered").c4t_total(None);
            assert!(total <= cap as i64, "{p}: {total} > cap {cap}");
        }
    }
    for p in &ids {
        for row in ledger
            .store()
            .balances(&format!("payable:prop:participant:{p}"))
            .await
            .expect("balances")
        {
            owed += row.credit_minor - row.debit_minor;
        }
    }
    let expense = ledger
        .store()
        .balances("expense:prop:c4t")
        .await
        .expect("balances");
    let used: i64 = expense.iter().map(|r| r.debit_minor - r.credit_minor).sum();
    assert!(
        used <= case.budget as i64,
        "budget overdrawn: {used} > {}",
        case.budget
    );
    assert_eq!(used, owed, "every payable owed was expensed");
    let check = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("check");
    assert!(check.differences.is_empty(), "{:?}", check.differences);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn no_cap_or_budget_line_is_ever_exceeded(case in case()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run(case));
    }
}
