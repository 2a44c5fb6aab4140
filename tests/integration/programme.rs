//! The programme through the API on both backends: a hand-computed scenario whose every amount
//! is stated here, and each bad input refused with its field and rule, writing nothing.

use std::cell::Cell;
use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use tranche_audit::programme::{
    partner_key_id, public_key_text, EvidenceItem, Id, Milestone, Outcome, Presence, Statement,
};
use tranche_tests::{server_on_both_backends, Client, TestServer};

pub(crate) const AWARD: &str = "bprm-t";

/// The scenario's server, clients and names.
pub(crate) struct Scn {
    pub(crate) s: TestServer,
    pub(crate) admin: Client,
    pub(crate) preparer: Client,
    pub(crate) hias: Client,
    pub(crate) other: Client,
    pub(crate) key: SigningKey,
    pub(crate) other_key: SigningKey,
    pub(crate) n: Cell<u32>,
    /// Name in the scenario -> pseudonym.
    pub(crate) p: BTreeMap<String, String>,
}

pub(crate) fn id(s: &str) -> Id {
    Id::parse(s).expect("valid id")
}

pub(crate) fn date(s: &str) -> tranche_audit::programme::Date {
    tranche_audit::programme::Date::parse(s).expect("valid date")
}

impl Scn {
    pub(crate) fn key(&self) -> String {
        self.n.set(self.n.get() + 1);
        format!("k-{}", self.n.get())
    }

    pub(crate) fn ok(&self, c: &Client, path: &str, body: &Value) -> Value {
        let r = c.post(path, Some(&self.key()), &body.to_string());
        assert!(r.status == 201 || r.status == 200, "{path}: {}", r.body);
        r.json()
    }

    pub(crate) fn size(&self) -> u64 {
        self.s
            .block_on(self.s.ledger.store().tree_size())
            .expect("size")
    }

    /// Posts and expects a refusal with this status, code and field, and nothing written.
    pub(crate) fn refused(
        &self,
        c: &Client,
        path: &str,
        body: &Value,
        status: u16,
        code: &str,
        field: Option<&str>,
    ) {
        let before = self.size();
        let r = c.post(path, Some(&self.key()), &body.to_string());
        r.problem(status, code, field);
        assert_eq!(self.size(), before, "{code}: something was written");
    }

    pub(crate) fn pid(&self, name: &str) -> Id {
        id(&self.p[name])
    }

    pub(crate) fn signed(
        &self,
        key: &SigningKey,
        partner: &str,
        batch: &str,
        items: Vec<EvidenceItem>,
    ) -> Value {
        let body = Statement {
            partner: id(partner),
            batch_id: id(batch),
            items,
            submitted_at: "2026-04-30T12:00:00Z".into(),
        }
        .sign(key);
        serde_json::to_value(body).expect("serialises")
    }

    pub(crate) fn evidence(&self, batch: &str, items: Vec<EvidenceItem>) -> Value {
        let body = self.signed(&self.key, "hias", batch, items);
        self.ok(&self.hias, "/v1/evidence", &body)
    }

    pub(crate) fn attend(
        &self,
        who: &str,
        sessions: &[String],
        status: Presence,
    ) -> Vec<EvidenceItem> {
        sessions
            .iter()
            .map(|s| EvidenceItem::Attendance {
                participant: self.pid(who),
                session: id(s),
                status,
            })
            .collect()
    }

    pub(crate) fn cycle(&self, period: &str) -> Value {
        self.ok(
            &self.preparer,
            "/v1/cycles",
            &json!({"award": AWARD, "period": period}),
        )
    }

    pub(crate) fn live(&self, who: &str) -> BTreeMap<String, String> {
        let r = self
            .preparer
            .get(&format!("/v1/participants/{}", self.p[who]));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["entitlements"]
            .as_array()
            .expect("list")
            .iter()
            .map(|e| {
                (
                    e["basis"].as_str().expect("basis").to_string(),
                    e["amount"].as_str().expect("amount").to_string(),
                )
            })
            .collect()
    }

    pub(crate) fn balance(&self, account: &str) -> (i64, i64) {
        let rows = self
            .s
            .block_on(self.s.ledger.store().balances(account))
            .expect("balances");
        rows.iter()
            .find(|r| r.account == account)
            .map_or((0, 0), |r| (r.debit_minor, r.credit_minor))
    }
}

fn sessions(
    prefix: &str,
    month: u32,
    days: std::ops::RangeInclusive<u32>,
) -> Vec<(String, String)> {
    days.enumerate()
        .map(|(i, d)| {
            (
                format!("{prefix}-{month:02}-{:02}", i + 1),
                format!("2026-{month:02}-{d:02}"),
            )
        })
        .collect()
}

fn ids(list: &[(String, String)]) -> Vec<String> {
    list.iter().map(|(s, _)| s.clone()).collect()
}

/// The award, partners, keys, cohorts, sessions, participants, rules and enrolments.
/// Sessions per cohort: (session id, date).
pub(crate) type Schedule = BTreeMap<&'static str, Vec<(String, String)>>;

pub(crate) fn setup(s: TestServer) -> (Scn, Schedule) {
    let admin = s.admin();
    let preparer = s.client(&admin.add_user("prep", "preparer", None));
    let hias = s.client(&admin.add_user("hias-field", "partner", Some("hias")));
    let other = s.client(&admin.add_user("other-field", "partner", Some("other")));
    let mut scn = Scn {
        s,
        admin: admin.clone(),
        preparer: preparer.clone(),
        hias,
        other,
        key: SigningKey::from_bytes(&[11; 32]),
        other_key: SigningKey::from_bytes(&[22; 32]),
        n: Cell::new(0),
        p: BTreeMap::new(),
    };
    scn.ok(
        &preparer,
        "/v1/awards",
        &json!({
            "award": AWARD, "donor": "BPRM", "currency": "USD", "total": "30000.00",
            "start": "2026-01-01", "end": "2026-12-31",
            "budget_lines": [
                {"line": "c4t", "name": "C4T stipend", "authorised": "20000.00", "participant_support": true},
                {"line": "tuition", "name": "Scholarship tuition", "authorised": "5000.00", "participant_support": true},
                {"line": "incentive", "name": "Scholarship incentive", "authorised": "100.00", "participant_support": true},
                {"line": "seed", "name": "Seed capital", "authorised": "2000.00", "participant_support": true},
                {"line": "admin", "name": "Programme administration", "authorised": "2900.00", "participant_support": false}
            ]
        }),
    );
    for (p, key) in [("hias", &scn.key), ("other", &scn.other_key)] {
        scn.ok(
            &admin,
            "/v1/partners",
            &json!({"partner": p, "name": format!("Partner {p}")}),
        );
        let vk = key.verifying_key();
        scn.ok(
            &admin,
            &format!("/v1/partners/{p}/keys"),
            &json!({"partner": p, "action": "register", "key_id": partner_key_id(&vk), "public_key": public_key_text(&vk)}),
        );
    }
    let mut all = BTreeMap::new();
    let mut a = sessions("a", 3, 2..=21);
    a.extend(sessions("a", 4, 6..=9));
    all.insert("emp-a", a);
    all.insert("emp-b", sessions("b", 3, 1..=24));
    all.insert("emp-c", sessions("c", 3, 1..=22));
    let mut d = sessions("d", 2, 2..=5);
    d.extend(sessions("d", 3, 2..=5));
    d.extend(sessions("d", 4, 6..=9));
    all.insert("emp-d", d);
    for (cohort, list) in &all {
        let sessions: Vec<Value> = list
            .iter()
            .map(|(s, d)| json!({"session": s, "date": d}))
            .collect();
        scn.ok(
            &preparer,
            "/v1/cohorts",
            &json!({"cohort": cohort, "award": AWARD, "partner": "hias", "pathway": "employability",
                    "name": format!("Cohort {cohort}"), "sessions": sessions}),
        );
    }
    scn.ok(
        &preparer,
        "/v1/cohorts",
        &json!({"cohort": "sch-weld", "award": AWARD, "partner": "hias", "pathway": "vocational-scholarship",
                "name": "Welding", "course": "welding", "provider": "secap"}),
    );
    scn.ok(
        &preparer,
        "/v1/cohorts",
        &json!({"cohort": "ent-e", "award": AWARD, "partner": "hias", "pathway": "entrepreneurship", "name": "Seed"}),
    );
    scn.ok(
        &preparer,
        "/v1/cohorts",
        &json!({"cohort": "other-c", "award": AWARD, "partner": "other", "pathway": "employability", "name": "Other",
                "sessions": [{"session": "o-1", "date": "2026-03-02"}]}),
    );
    let names = [
        "a100", "a85", "a80", "a60", "a0", "anone", "b79", "c59", "c64", "dcap", "s1", "s2", "s3",
        "e1", "e2", "u1",
    ];
    let people: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"award": AWARD, "name": format!("Participant {n}"), "document": format!("17{:08}", i + 1),
                   "phone": "+593 99 000 0000", "bank_account": format!("EC-{i:06}"),
                   "sex": if i % 3 == 0 { "male" } else { "female" }, "nationality": "VE",
                   "province": "Imbabura", "pathway": "employability", "age_band": "25-34"})
        })
        .collect();
    // Closed vocabularies: one stray value refuses the whole request, naming the field.
    for (field, value) in [
        ("sex", "F"),
        ("nationality", "Venezuela"),
        ("age_band", "25 to 34"),
    ] {
        let mut bad = people.clone();
        bad[1][field] = json!(value);
        scn.refused(
            &scn.hias,
            "/v1/participants",
            &Value::Array(bad),
            422,
            "not_in_vocabulary",
            Some(field),
        );
    }
    let r = scn.ok(&scn.hias, "/v1/participants", &Value::Array(people));
    let got = r["participants"].as_array().expect("pseudonyms");
    for (n, p) in names.iter().zip(got) {
        scn.p
            .insert((*n).to_string(), p.as_str().expect("id").to_string());
    }
    let rules = [
        json!({"award": AWARD, "rule": "c4t", "version": 1, "effective": "2026-01-01",
               "params": {"shape": "c4t-monthly", "line": "c4t", "amount": "60.00", "full_from_percent": 80,
                          "partial_from_percent": 60, "cap": "100.00"}}),
        json!({"award": AWARD, "rule": "scholarship", "version": 1, "effective": "2026-01-01",
               "params": {"shape": "scholarship", "tuition_line": "tuition", "tuition": "250.00",
                          "incentive_line": "incentive", "incentive": "100.00"}}),
        json!({"award": AWARD, "rule": "seed", "version": 1, "effective": "2026-01-01",
               "params": {"shape": "seed-capital", "line": "seed", "obligation": "800.00",
                          "tranche_1": "480.00", "tranche_2": "320.00"}}),
    ];
    for r in &rules {
        scn.ok(&preparer, "/v1/rules", r);
    }
    let mut enrol = Vec::new();
    for (names, cohort, d) in [
        (
            &["a100", "a85", "a80", "a60", "a0", "anone"][..],
            "emp-a",
            "2026-02-01",
        ),
        (&["b79"][..], "emp-b", "2026-02-01"),
        (&["c59", "c64"][..], "emp-c", "2026-02-01"),
        (&["dcap"][..], "emp-d", "2026-02-01"),
        (&["s1", "s2", "s3"][..], "sch-weld", "2026-03-03"),
        (&["e1", "e2"][..], "ent-e", "2026-03-01"),
    ] {
        for n in names {
            enrol.push(EvidenceItem::Enrolment {
                participant: scn.pid(n),
                cohort: id(cohort),
                date: date(d),
            });
        }
    }
    scn.evidence("enrol", enrol);
    (scn, all)
}

pub(crate) fn month(all: &Schedule, cohort: &str, m: &str) -> Vec<String> {
    ids(&all[cohort]
        .iter()
        .filter(|(_, d)| d.starts_with(m))
        .cloned()
        .collect::<Vec<_>>())
}

fn counts(report: &Value) -> BTreeMap<String, u64> {
    report["exception_counts"]
        .as_object()
        .expect("counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("n")))
        .collect()
}

fn line<'a>(report: &'a Value, rule: &str, budget_line: &str, kind: &str) -> &'a Value {
    report["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["rule"] == rule && l["budget_line"] == budget_line && l["kind"] == kind)
        .unwrap_or_else(|| panic!("no line {rule}/{budget_line}/{kind} in {report}"))
}

fn hand_computed_scenario(s: TestServer) {
    let (scn, all) = setup(s);
    let a_mar = month(&all, "emp-a", "2026-03");
    let (pres, abs) = (Presence::Present, Presence::Absent);

    // February: only cohort D has sessions; dcap attends all four.
    scn.evidence(
        "feb",
        scn.attend("dcap", &month(&all, "emp-d", "2026-02"), pres),
    );
    let feb = scn.cycle("2026-02");
    assert_eq!(feb["entitlements"], 1, "{feb}");
    assert_eq!(feb["net_payable"], "60.00");
    assert_eq!(counts(&feb), BTreeMap::from([("not_enrolled".into(), 1)]));

    // March attendance at 100%, 85%, 80%, 60%, 0%, none recorded; 79% (19/24); 59% (13/22);
    // 64% (14/22, pro rata rounded down); and dcap at 100% crossing the cap.
    let mut items = scn.attend("a100", &a_mar, pres);
    for (who, present) in [("a85", 17), ("a80", 16), ("a60", 12), ("a0", 0)] {
        items.extend(scn.attend(who, &a_mar[..present], pres));
        items.extend(scn.attend(who, &a_mar[present..], abs));
    }
    scn.evidence("mar-a", items);
    let b = month(&all, "emp-b", "2026-03");
    let c = month(&all, "emp-c", "2026-03");
    let mut items = scn.attend("b79", &b[..19], pres);
    items.extend(scn.attend("b79", &b[19..], abs));
    for (who, present) in [("c59", 13), ("c64", 14)] {
        items.extend(scn.attend(who, &c[..present], pres));
        items.extend(scn.attend(who, &c[present..], abs));
    }
    items.extend(scn.attend("dcap", &month(&all, "emp-d", "2026-03"), pres));
    scn.evidence("mar-bcd", items);
    let cert = |who: &str, result, d: &str| EvidenceItem::Certification {
        participant: scn.pid(who),
        course: id("welding"),
        result,
        date: date(d),
    };
    let ms = |who: &str, milestone, result, d: &str| EvidenceItem::Milestone {
        participant: scn.pid(who),
        milestone,
        result,
        date: date(d),
    };
    scn.evidence(
        "mar-cert-seed",
        vec![
            cert("s1", Outcome::Passed, "2026-03-28"),
            cert("s2", Outcome::Passed, "2026-03-29"),
            cert("s3", Outcome::Failed, "2026-03-27"),
            ms("e1", Milestone::PlanApproved, Outcome::Passed, "2026-03-05"),
            ms("e1", Milestone::Tranche1, Outcome::Passed, "2026-03-20"),
            ms("e2", Milestone::PlanApproved, Outcome::Passed, "2026-03-06"),
            ms("e2", Milestone::Tranche1, Outcome::Failed, "2026-03-25"),
        ],
    );
    let mar = scn.cycle("2026-03");
    // C4T: 60 + 60 + 60 + 36.00 (12/20) + 47.50 (19/24) + 38.18 (14/22 of 60, rounded down)
    // + 40.00 (dcap: 60 cut to the 100.00 cap after February's 60) = 341.68 in 7 entitlements.
    let c4t = line(&mar, "c4t", "c4t", "payable");
    assert_eq!(
        (c4t["entitlements"].as_u64(), c4t["amount"].as_str()),
        (Some(7), Some("341.68"))
    );
    let tuition = line(&mar, "scholarship", "tuition", "payable");
    assert_eq!(
        (tuition["entitlements"].as_u64(), tuition["amount"].as_str()),
        (Some(3), Some("750.00"))
    );
    // The incentive line holds 100.00: one of the two passed scholars gets it, the other is listed.
    let incentive = line(&mar, "scholarship", "incentive", "payable");
    assert_eq!(
        (
            incentive["entitlements"].as_u64(),
            incentive["amount"].as_str()
        ),
        (Some(1), Some("100.00"))
    );
    let seed_paid = line(&mar, "seed", "seed", "payable");
    assert_eq!(
        (
            seed_paid["entitlements"].as_u64(),
            seed_paid["amount"].as_str()
        ),
        (Some(1), Some("480.00"))
    );
    // Obligations: 800 + 800, liquidation 480, release of e2's 800 after its failed tranche.
    let seed_memo = line(&mar, "seed", "seed", "obligation");
    assert_eq!(
        (
            seed_memo["entitlements"].as_u64(),
            seed_memo["amount"].as_str()
        ),
        (Some(4), Some("2880.00"))
    );
    assert_eq!(mar["entitlements"], 16);
    assert_eq!(mar["net_payable"], "1671.68");
    assert_eq!(
        counts(&mar),
        BTreeMap::from([
            ("below_threshold".into(), 2),
            ("budget_exhausted".into(), 1),
            ("capped".into(), 1),
            ("failed_certification".into(), 1),
            ("failed_milestone".into(), 1),
            ("no_attendance_recorded".into(), 1),
            ("not_enrolled".into(), 1),
        ])
    );
    for (who, amount) in [
        ("a100", "60.00"),
        ("a85", "60.00"),
        ("a80", "60.00"),
        ("a60", "36.00"),
        ("b79", "47.50"),
        ("c64", "38.18"),
        ("dcap", "40.00"),
    ] {
        assert_eq!(
            scn.live(who).get("c4t:2026-03").map(String::as_str),
            Some(amount),
            "{who}"
        );
    }
    for who in ["a0", "anone", "c59", "u1"] {
        assert!(scn.live(who).is_empty(), "{who}");
    }
    assert_eq!(
        scn.live("e1").get("seed:tranche-1").map(String::as_str),
        Some("480.00")
    );
    assert_eq!(
        scn.live("e2").get("seed:release").map(String::as_str),
        Some("800.00")
    );
    let got_incentive = ["s1", "s2"]
        .iter()
        .filter(|w| scn.live(w).contains_key("incentive:welding"))
        .count();
    assert_eq!(got_incentive, 1);
    // The accounts tie: C4T expense is February's 60 plus March's 341.68; the provider is owed
    // three tuitions; the seed line holds e1's unliquidated 320.
    assert_eq!(scn.balance(&format!("expense:{AWARD}:c4t")), (40168, 0));
    assert_eq!(
        scn.balance(&format!("payable:{AWARD}:vendor:secap")),
        (0, 75000)
    );
    let (d, cr) = scn.balance(&format!("obligation:{AWARD}:seed"));
    assert_eq!(d - cr, 32000);

    // A rule version cannot reach back into a period already run, nor before the one it replaces.
    let v2 = |effective: &str| {
        json!({"award": AWARD, "rule": "c4t", "version": 2, "effective": effective,
               "params": {"shape": "c4t-monthly", "line": "c4t", "amount": "70.00", "full_from_percent": 80,
                          "partial_from_percent": 60, "cap": "200.00"}})
    };
    scn.refused(
        &scn.preparer,
        "/v1/rules",
        &v2("2026-03-01"),
        422,
        "period_already_run",
        Some("effective"),
    );
    scn.refused(
        &scn.preparer,
        "/v1/rules",
        &v2("2026-01-01"),
        422,
        "effective_before_previous",
        Some("effective"),
    );
    scn.ok(&scn.preparer, "/v1/rules", &v2("2026-04-01"));

    // Late and corrected evidence: a60's 13th session was present after all (13/20 = 65%:
    // 39.00), and anone's attendance arrives late (20/20: 60.00).
    scn.evidence(
        "mar-fix",
        [
            vec![EvidenceItem::AttendanceCorrection {
                participant: scn.pid("a60"),
                session: id(&a_mar[12]),
                status: pres,
            }],
            scn.attend("anone", &a_mar, pres),
        ]
        .concat(),
    );
    let again = scn.cycle("2026-03");
    assert_eq!(again["entitlements"], 2, "{again}");
    assert_eq!(again["reversals"], 1);
    assert_eq!(again["net_payable"], "63.00");
    assert_eq!(counts(&again)["corrected"], 1);
    assert_eq!(scn.live("a60")["c4t:2026-03"], "39.00");
    assert_eq!(scn.live("anone")["c4t:2026-03"], "60.00");
    // Once more: nothing new.
    let third = scn.cycle("2026-03");
    assert_eq!(
        (third["entitlements"].as_u64(), third["reversals"].as_u64()),
        (Some(0), Some(0))
    );

    // April under version 2 (70.00, cap 200.00): a100 and dcap attend all four sessions; e1's
    // second tranche passes. March's entitlements keep version 1's amounts.
    let mut items = scn.attend("a100", &month(&all, "emp-a", "2026-04"), pres);
    items.extend(scn.attend("dcap", &month(&all, "emp-d", "2026-04"), pres));
    items.push(ms("e1", Milestone::Tranche2, Outcome::Passed, "2026-04-15"));
    scn.evidence("apr", items);
    let apr = scn.cycle("2026-04");
    assert_eq!(
        line(&apr, "c4t", "c4t", "payable")["amount"],
        "140.00",
        "{apr}"
    );
    assert_eq!(line(&apr, "seed", "seed", "payable")["amount"], "320.00");
    assert_eq!(apr["net_payable"], "460.00");
    assert_eq!(counts(&apr)["no_attendance_recorded"], 5);
    assert_eq!(scn.live("a100")["c4t:2026-03"], "60.00");
    assert_eq!(scn.live("a100")["c4t:2026-04"], "70.00");
    assert_eq!(scn.live("dcap")["c4t:2026-04"], "70.00");
    let (d, cr) = scn.balance(&format!("obligation:{AWARD}:seed"));
    assert_eq!(d - cr, 0, "e1's obligation is fully liquidated");

    // A drawdown of 3000.00, and 450.00 of programme administration paid from the bank: the
    // one line that is not participant support, so the base of the indirect expense.
    scn.ok(
        &scn.admin,
        "/v1/transactions",
        &json!({"date": "2026-04-01", "memo": "BPRM drawdown", "postings": [
            {"account": format!("bank:{AWARD}"), "currency": "USD", "side": "debit", "amount": "3000.00"},
            {"account": format!("fund:{AWARD}"), "currency": "USD", "side": "credit", "amount": "3000.00"}
        ]}),
    );
    scn.ok(
        &scn.admin,
        "/v1/transactions",
        &json!({"date": "2026-04-30", "memo": "Monitoring visits, April", "postings": [
            {"account": format!("expense:{AWARD}:admin"), "currency": "USD", "side": "debit", "amount": "450.00"},
            {"account": format!("bank:{AWARD}"), "currency": "USD", "side": "credit", "amount": "450.00"}
        ]}),
    );

    // The donor's figures for the whole scenario, stated by hand. Expenses: C4T 60.00 (Feb) +
    // 341.68 (Mar) + 3.00 (a60 corrected) + 60.00 (anone, late) + 140.00 (Apr) = 604.68; tuition
    // 750.00; incentive 100.00; seed 480.00 + 320.00 = 800.00; admin 450.00; in all 2704.68,
    // nothing unliquidated (e1's 800 paid out, e2's released). Cash: 3000.00 received, 450.00
    // left the bank (the entitlements are payable, none paid yet), 2550.00 on hand. Line 11 at
    // 10%: the base is admin's 450.00 alone (every other line is participant support): 45.00.
    let period = "start=2026-01-01&end=2026-12-31";
    let sf: Value = scn
        .preparer
        .get(&format!(
            "/v1/reports/sf425?award={AWARD}&{period}&indirect_rate=0.10"
        ))
        .json();
    let b = &sf["report"]["body"];
    for (l, want) in [
        ("line_10a", "3000.00"),
        ("line_10b", "450.00"),
        ("line_10c", "2550.00"),
        ("line_10d", "30000.00"),
        ("line_10e", "2704.68"),
        ("line_10f", "0.00"),
        ("line_10g", "2704.68"),
        ("line_10h", "27295.32"),
        ("line_11_base", "450.00"),
        ("line_11_amount", "45.00"),
    ] {
        assert_eq!(b[l]["cumulative"], want, "{l}: {b}");
    }
    assert_eq!(b["indirect_rate"], "0.1000");
    // Authorised, expended, obligated, paid, remaining, % used, per line: nothing is paid yet
    // (no payment reached the bank; admin was paid directly, not as a payment of entitlements).
    let bud: Value = scn
        .preparer
        .get(&format!("/v1/reports/budget?award={AWARD}&{period}"))
        .json();
    let figures = |r: &Value| -> [String; 6] {
        [
            "authorised",
            "expended",
            "obligated",
            "paid",
            "remaining",
            "percent_used",
        ]
        .map(|k| r[k].as_str().expect("figure").to_string())
    };
    let rows: BTreeMap<String, [String; 6]> = bud["report"]["body"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|r| (r["line"].as_str().expect("line").to_string(), figures(r)))
        .collect();
    let row = |f: [&str; 6]| f.map(String::from);
    assert_eq!(
        rows["c4t"],
        row(["20000.00", "604.68", "0.00", "0.00", "19395.32", "3.02"])
    );
    assert_eq!(
        rows["tuition"],
        row(["5000.00", "750.00", "0.00", "0.00", "4250.00", "15.00"])
    );
    assert_eq!(
        rows["incentive"],
        row(["100.00", "100.00", "0.00", "0.00", "0.00", "100.00"])
    );
    assert_eq!(
        rows["seed"],
        row(["2000.00", "800.00", "0.00", "0.00", "1200.00", "40.00"])
    );
    // 450.00 / 2900.00 = 15.517…%, rounded down.
    assert_eq!(
        rows["admin"],
        row(["2900.00", "450.00", "0.00", "0.00", "2450.00", "15.51"])
    );
    // 2704.68 / 30000.00 = 9.0156%.
    assert_eq!(
        figures(&bud["report"]["body"]["total"]),
        row(["30000.00", "2704.68", "0.00", "0.00", "27295.32", "9.01"])
    );
    // Payment reconciliation: every entitlement earned is still payable, none in a batch.
    let pay: Value = scn
        .preparer
        .get(&format!("/v1/reports/payments?award={AWARD}&{period}"))
        .json();
    let p = &pay["report"]["body"];
    assert_eq!(
        (
            p["earned"]["amount"].as_str(),
            p["still_payable"].as_str(),
            p["sent"]["count"].as_u64(),
            p["confirmed"]["amount"].as_str(),
            p["in_open_batches"]["count"].as_u64(),
            p["transit_balance"].as_str(),
        ),
        (
            Some("2254.68"),
            Some("2254.68"),
            Some(0),
            Some("0.00"),
            Some(0),
            Some("0.00")
        ),
        "{p}"
    );

    // A cycle for a month outside the award is refused, and writes nothing.
    scn.refused(
        &scn.preparer,
        "/v1/cycles",
        &json!({"award": AWARD, "period": "2027-01"}),
        422,
        "period_outside_award",
        Some("period"),
    );

    // Erase one person: reports still run, the journal and every proof stay valid.
    let erased = scn.admin.post(
        &format!("/v1/participants/{}/erase", scn.p["a85"]),
        None,
        "",
    );
    assert_eq!(erased.status, 200, "{}", erased.body);
    let shown = scn
        .preparer
        .get(&format!("/v1/participants/{}", scn.p["a85"]))
        .json();
    assert!(
        shown["personal"].is_null() && shown["erased_at"].is_string(),
        "{shown}"
    );
    assert_eq!(shown["entitlements"][0]["amount"], "60.00");
    let dry = scn.ok(
        &scn.preparer,
        "/v1/cycles",
        &json!({"award": AWARD, "period": "2026-03", "dry_run": true}),
    );
    assert_eq!(dry["entitlements"], 0);
    let dir = tempfile::tempdir().expect("temp dir");
    let size = scn.size();
    scn.s
        .block_on(tranche_ledger::service::export::export_dir(
            &scn.s.ledger,
            dir.path(),
            |_, _| {},
        ))
        .expect("export");
    let summary = tranche_audit::verify::verify_dir(
        dir.path(),
        tranche_audit::verify::VerifyOptions {
            vkey: Some(scn.s.ledger.verifier().clone()),
            progress: None,
            reference_decoder: false,
        },
    )
    .expect("the export verifies after all of it and after an erasure");
    assert_eq!(summary.records, size);
    // Rebuilt equals live, programme records and entitlements included.
    let check = scn
        .s
        .block_on(tranche_ledger::store::rebuild::check(
            scn.s.ledger.store(),
            scn.s.ledger.verifier(),
            |_, _| {},
        ))
        .expect("check runs");
    assert!(check.differences.is_empty(), "{:?}", check.differences);
}

fn bad_inputs_are_refused_and_write_nothing(s: TestServer) {
    let (scn, all) = setup(s);
    let a_mar = month(&all, "emp-a", "2026-03");
    let att = |who: &str, session: &str| EvidenceItem::Attendance {
        participant: scn.pid(who),
        session: id(session),
        status: Presence::Present,
    };
    let hias = &scn.hias;

    // Signed by an unknown key, another partner's key, a revoked key; a bad signature.
    let stranger = SigningKey::from_bytes(&[99; 32]);
    let body = scn.signed(&stranger, "hias", "x1", vec![att("a100", &a_mar[0])]);
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "unknown_key",
        Some("key_id"),
    );
    let body = scn.signed(&scn.other_key, "hias", "x2", vec![att("a100", &a_mar[0])]);
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "wrong_partner_key",
        Some("key_id"),
    );
    let mut body = scn.signed(&scn.key, "hias", "x3", vec![att("a100", &a_mar[0])]);
    body["statement"]["items"][0]["status"] = json!("absent");
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "bad_signature",
        Some("signature"),
    );
    // A partner token cannot submit another partner's statement.
    let body = scn.signed(&scn.other_key, "other", "x4", vec![att("a100", &a_mar[0])]);
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        403,
        "partner_scope",
        Some("statement.partner"),
    );
    // The other partner's own statement about hias's cohort is refused by the ledger.
    scn.refused(
        &scn.other,
        "/v1/evidence",
        &body,
        422,
        "cohort_of_another_partner",
        Some("statement.items[0].session"),
    );

    // Attendance for someone not enrolled in that session's cohort.
    let body = scn.signed(&scn.key, "hias", "x5", vec![att("b79", &a_mar[0])]);
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "not_enrolled",
        Some("statement.items[0].participant"),
    );
    // Duplicate evidence: the same participant and session twice, and the same batch twice.
    let body = scn.signed(
        &scn.key,
        "hias",
        "x6",
        vec![att("a100", &a_mar[0]), att("a100", &a_mar[0])],
    );
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "duplicate_attendance",
        Some("statement.items[1].session"),
    );
    scn.evidence("x7", vec![att("a100", &a_mar[0])]);
    let body = scn.signed(&scn.key, "hias", "x7", vec![att("a100", &a_mar[1])]);
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "duplicate_batch",
        Some("statement.batch_id"),
    );
    let body = scn.signed(&scn.key, "hias", "x8", vec![att("a100", &a_mar[0])]);
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "duplicate_attendance",
        Some("statement.items[0].session"),
    );
    // Certification for a course the participant is not in.
    let body = scn.signed(
        &scn.key,
        "hias",
        "x9",
        vec![EvidenceItem::Certification {
            participant: scn.pid("a100"),
            course: id("welding"),
            result: Outcome::Passed,
            date: date("2026-03-20"),
        }],
    );
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "not_in_course",
        Some("statement.items[0].course"),
    );
    // A milestone out of order: tranche 2 before tranche 1.
    let body = scn.signed(
        &scn.key,
        "hias",
        "x10",
        vec![
            EvidenceItem::Milestone {
                participant: scn.pid("e1"),
                milestone: Milestone::PlanApproved,
                result: Outcome::Passed,
                date: date("2026-03-05"),
            },
            EvidenceItem::Milestone {
                participant: scn.pid("e1"),
                milestone: Milestone::Tranche2,
                result: Outcome::Passed,
                date: date("2026-03-20"),
            },
        ],
    );
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "milestone_out_of_order",
        Some("statement.items[1].milestone"),
    );
    // A session dated outside the award.
    scn.refused(
        &scn.preparer,
        "/v1/cohorts/emp-a/sessions",
        &json!({"sessions": [{"session": "late-1", "date": "2027-01-04"}]}),
        422,
        "session_outside_award",
        Some("sessions[0].date"),
    );
    // A rule version effective before the one it replaces.
    scn.refused(
        &scn.preparer,
        "/v1/rules",
        &json!({"award": AWARD, "rule": "seed", "version": 2, "effective": "2026-01-01",
                "params": {"shape": "seed-capital", "line": "seed", "obligation": "900.00", "tranche_1": "500.00", "tranche_2": "400.00"}}),
        422,
        "effective_before_previous",
        Some("effective"),
    );
    // A cycle period outside the award.
    scn.refused(
        &scn.preparer,
        "/v1/cycles",
        &json!({"award": AWARD, "period": "2025-12"}),
        422,
        "period_outside_award",
        Some("period"),
    );
    // A second rule of a shape the award already has would pay the same evidence twice.
    scn.refused(
        &scn.preparer,
        "/v1/rules",
        &json!({"award": AWARD, "rule": "c4t-bis", "version": 1, "effective": "2026-06-01",
                "params": {"shape": "c4t-monthly", "line": "c4t", "amount": "10.00", "full_from_percent": 80,
                           "partial_from_percent": 60, "cap": "100.00"}}),
        422,
        "shape_already_ruled",
        Some("rule"),
    );
    // A duplicate document number (spelled differently), and a revoked key.
    scn.refused(
        hias,
        "/v1/participants",
        &json!({"award": AWARD, "name": "Again", "document": "17-0000 0001"}),
        422,
        "duplicate_document",
        Some("document"),
    );
    // A bank account written like an IBAN must be a valid one (here one digit is mistyped).
    scn.refused(
        hias,
        "/v1/participants",
        &json!({"award": AWARD, "name": "Dora", "document": "17-0000 0999",
                "bank_account": "GB82 WEST 1234 5698 7654 31"}),
        422,
        "invalid_iban",
        Some("bank_account"),
    );
    let vk = scn.key.verifying_key();
    scn.ok(
        &scn.admin,
        "/v1/partners/hias/keys",
        &json!({"partner": "hias", "action": "revoke", "key_id": partner_key_id(&vk)}),
    );
    let body = scn.signed(&scn.key, "hias", "x11", vec![att("a100", &a_mar[2])]);
    scn.refused(
        hias,
        "/v1/evidence",
        &body,
        422,
        "key_revoked",
        Some("key_id"),
    );
    // The donor role may not read a participant.
    let donor = scn.s.client(&scn.admin.add_user("donor", "donor", None));
    assert_eq!(
        donor
            .get(&format!("/v1/participants/{}", scn.p["a100"]))
            .status,
        403
    );
    // A partner sees only its own participants.
    assert_eq!(
        scn.other
            .get(&format!("/v1/participants/{}", scn.p["a100"]))
            .status,
        403
    );
}

/// `evidence import` has no size ceiling: the whole file is checked first (every bad statement
/// named, nothing written), then journaled in chunks; a run that stopped part way resumes and
/// journals nothing twice.
fn an_evidence_import_is_checked_whole_then_resumes(s: TestServer) {
    let (scn, all) = setup(s);
    let ledger = &scn.s.ledger;
    let a_mar = month(&all, "emp-a", "2026-03");
    let statement = |batch: String, who: &str, session: &str, status| Statement {
        partner: id("hias"),
        batch_id: id(&batch),
        items: vec![EvidenceItem::Attendance {
            participant: scn.pid(who),
            session: id(session),
            status,
        }],
        submitted_at: "2026-04-30T12:00:00Z".into(),
    };
    let mut good = Vec::new();
    for (k, who) in ["a100", "a85", "a80", "a60", "a0"].iter().enumerate() {
        for (j, session) in a_mar.iter().enumerate() {
            good.push(
                statement(format!("imp-{k}-{j}"), who, session, Presence::Present).sign(&scn.key),
            );
        }
    }
    assert!(good.len() >= 100, "{}", good.len());
    let import = |bodies: &[tranche_audit::programme::EvidenceBody]| {
        scn.s
            .block_on(ledger.import_evidence(bodies, "test", chrono::Utc::now(), &mut |_, _| {}))
            .expect("the import runs")
    };
    let check = || {
        let c = scn
            .s
            .block_on(tranche_ledger::store::rebuild::check(
                ledger.store(),
                ledger.verifier(),
                |_, _| {},
            ))
            .expect("check runs");
        assert!(c.is_clean(), "{:?}", c.differences);
    };

    // Three bad statements among good ones: all named, nothing written.
    let mut bad = good.clone();
    bad[3] = statement(
        "imp-bad-1".into(),
        "a100",
        "no-such-session",
        Presence::Present,
    )
    .sign(&scn.key);
    let mut forged =
        statement("imp-bad-2".into(), "a85", &a_mar[0], Presence::Present).sign(&scn.key);
    forged.statement.items = statement("x".into(), "a85", &a_mar[1], Presence::Present).items;
    bad[7] = forged;
    bad.push(statement("imp-0-0".into(), "b79", &a_mar[0], Presence::Absent).sign(&scn.key));
    let before = scn.size();
    let errors = import(&bad).expect_err("refused");
    let got: Vec<(usize, &str)> = errors.iter().map(|(i, e)| (*i, e.code.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (3, "unknown_session"),
            (7, "bad_signature"),
            (bad.len() - 1, "duplicate_batch")
        ],
        "{errors:?}"
    );
    assert_eq!(
        errors[0].1.field, "statement.items[0].session",
        "{errors:?}"
    );
    assert_eq!(scn.size(), before, "a refused import writes nothing");
    check();

    // A run that stopped after its first 40 statements, then the whole file again.
    let first = import(&good[..40]).expect("imported");
    assert_eq!((first.submitted, first.already), (40, 0));
    let again = import(&good).expect("resumed");
    assert_eq!(again.already, 40);
    assert_eq!(again.submitted, (good.len() - 40) as u64);
    assert_eq!(again.items, again.submitted);
    let (from, to) = again.seqs.expect("written");
    assert_eq!(to - from + 1, again.submitted, "one record per statement");
    let size = scn.size();
    let rerun = import(&good).expect("nothing left to do");
    assert_eq!(
        (rerun.submitted, rerun.already, rerun.seqs),
        (0, good.len() as u64, None)
    );
    assert_eq!(scn.size(), size, "nothing journaled twice");
    check();
    // The attendance counts once: March at 100% for a100.
    let march = scn.cycle("2026-03");
    assert_eq!(
        march["entitlements"].as_u64().map(|n| n >= 4),
        Some(true),
        "{march}"
    );
}

/// The programme projections are written with the records, read by one-shot commands, refuse
/// edits from outside the ledger, and are checked and rebuilt from the journal.
fn the_programme_projections_follow_the_journal(s: TestServer) {
    let (scn, all) = setup(s);
    scn.evidence(
        "mar",
        scn.attend("a100", &month(&all, "emp-a", "2026-03"), Presence::Present),
    );
    scn.cycle("2026-03");
    let store = scn.s.ledger.store();
    // Registrations, evidence and the cycle decided on the rows they touched: nothing replayed
    // the programme into this process.
    assert!(!scn.s.block_on(store.holds_replayed_state()));
    let awards = scn.s.block_on(store.award_rows()).expect("awards");
    assert_eq!(
        awards.iter().map(|a| a.award.as_str()).collect::<Vec<_>>(),
        vec![AWARD]
    );
    let (rules, cycles, participants) = scn.s.block_on(store.award_detail(AWARD)).expect("detail");
    assert_eq!(rules.len(), 3, "{rules:?}");
    assert_eq!(
        cycles.iter().map(|c| c.period.as_str()).collect::<Vec<_>>(),
        vec!["2026-03"]
    );
    assert_eq!(participants, scn.p.len() as u64);
    let (p, evidence, entitlements) = scn
        .s
        .block_on(store.participant_detail(&scn.p["a100"]))
        .expect("read")
        .expect("registered");
    assert_eq!(p.award, AWARD);
    assert_eq!(evidence[0].kind, "enrolment");
    let present = evidence
        .iter()
        .filter(|e| e.kind == "attendance" && e.value == "present")
        .count();
    assert_eq!(present, month(&all, "emp-a", "2026-03").len());
    assert_eq!(
        entitlements
            .iter()
            .map(|e| (e.basis.as_str(), e.amount_minor))
            .collect::<Vec<_>>(),
        vec![("c4t:2026-03", 6000)]
    );
    assert!(scn
        .s
        .block_on(store.participant_detail("p-nobody"))
        .expect("read")
        .is_none());

    // The registry: partners with their keys, cohorts with their sessions, statements.
    let partners = scn.s.block_on(store.partner_rows()).expect("partners");
    assert_eq!(
        partners
            .iter()
            .map(|p| p.partner.as_str())
            .collect::<Vec<_>>(),
        ["hias", "other"]
    );
    let keys = scn
        .s
        .block_on(store.partner_key_rows("hias"))
        .expect("keys");
    assert_eq!(
        keys.iter()
            .map(|k| (k.action.as_str(), k.key_id.clone()))
            .collect::<Vec<_>>(),
        [("register", partner_key_id(&scn.key.verifying_key()))]
    );
    let cohorts = scn
        .s
        .block_on(store.cohort_rows(Some(AWARD), Some("hias")))
        .expect("cohorts");
    assert_eq!(
        cohorts
            .iter()
            .map(|c| c.cohort.as_str())
            .collect::<Vec<_>>(),
        ["emp-a", "emp-b", "emp-c", "emp-d", "ent-e", "sch-weld"]
    );
    assert_eq!(scn.s.block_on(store.cohort_count(AWARD)).expect("count"), 7);
    let emp_a = scn
        .s
        .block_on(store.session_rows("emp-a"))
        .expect("sessions");
    assert_eq!(
        emp_a
            .iter()
            .map(|s| (s.session.clone(), s.date.clone()))
            .collect::<Vec<_>>(),
        all["emp-a"]
            .iter()
            .map(|(s, d)| (s.to_string(), d.to_string()))
            .collect::<Vec<_>>()
    );
    let dates = scn
        .s
        .block_on(store.session_dates(&[emp_a[0].session.clone(), "no-such".into()]))
        .expect("dates");
    assert_eq!(dates.len(), 1);
    let (statements, count) = scn
        .s
        .block_on(store.statement_rows(Some("hias"), 1))
        .expect("statements");
    assert_eq!(statements.len(), 1);
    assert!(count >= 2, "enrolments and the March sheet: {count}");
    assert_eq!(statements[0].batch_id, "mar", "the newest first");
    // The API reads the same rows.
    let doc = scn.preparer.get("/v1/partners").json();
    assert_eq!(doc[0]["partner"], "hias", "{doc}");
    assert_eq!(doc[0]["batches"], count, "{doc}");
    assert_eq!(doc[0]["keys"][0]["revoked_seq"], Value::Null, "{doc}");
    let doc = scn
        .preparer
        .get(&format!("/v1/cohorts?award={AWARD}"))
        .json();
    assert_eq!(doc.as_array().map(Vec::len), Some(7), "{doc}");
    let award = scn.preparer.get(&format!("/v1/awards/{AWARD}")).json();
    assert_eq!(award["cohorts"], 7, "{award}");
    assert_eq!(award["cycles"], json!(["2026-03"]), "{award}");
    assert_eq!(award["rules"].as_array().map(Vec::len), Some(3), "{award}");
    assert!(award["rules"][0]["params"].is_object(), "{award}");
    // An award without lists of its own shows the defaults it registers participants with.
    let v = &award["vocabulary"];
    assert_eq!(v["sex"], json!(["female", "male", "other"]), "{award}");
    assert_eq!(v["provinces"], Value::Null, "any province: {award}");
    assert_eq!(v["age_bands"][0], "under-18", "{award}");

    let backend = store.backend_name();
    for sql in [
        "DELETE FROM partners",
        "UPDATE partner_keys SET action = 'revoke'",
        "DELETE FROM evidence_statements",
        "UPDATE cohorts SET partner = 'other'",
        "DELETE FROM sessions",
        "DELETE FROM participants",
        "UPDATE entitlements SET amount_minor = amount_minor + 1",
        "DELETE FROM evidence_items",
        "UPDATE awards SET body = '{}'",
        "DELETE FROM award_rules",
        "DELETE FROM award_cycles",
    ] {
        let err = scn.s.block_on(store.execute_raw(sql)).expect_err(sql);
        assert!(
            matches!(err, tranche_ledger::StoreError::Refused(_)),
            "{sql}: {err:?}"
        );
    }
    let check = || {
        scn.s
            .block_on(tranche_ledger::store::rebuild::check(
                store,
                scn.s.ledger.verifier(),
                |_, _| {},
            ))
            .expect("check runs")
    };
    assert!(check().is_clean(), "{:?}", check().differences);
    for (sql, names) in [
        (
            "UPDATE entitlements SET amount_minor = amount_minor + 1",
            "entitlement seq",
        ),
        ("DELETE FROM participants", "participant"),
        ("DELETE FROM evidence_items", "evidence item"),
        ("UPDATE cohorts SET partner = 'other'", "cohort"),
        ("DELETE FROM sessions", "session"),
        (
            "UPDATE partner_keys SET action = 'revoke'",
            "partner key record",
        ),
    ] {
        scn.s
            .block_on(store.execute_raw(&super::journal::behind_the_ledgers_back(backend, sql)))
            .expect("the guard defeated on purpose");
        let dirty = check();
        assert!(
            dirty.differences.iter().any(|d| d.starts_with(names)),
            "{sql}: {:?}",
            dirty.differences
        );
        scn.s
            .block_on(store.replace_projections())
            .expect("rebuilt");
        assert!(check().is_clean(), "{sql}: {:?}", check().differences);
    }
    let (_, evidence_again, entitlements_again) = scn
        .s
        .block_on(store.participant_detail(&scn.p["a100"]))
        .expect("read")
        .expect("registered");
    assert_eq!(
        (evidence_again, entitlements_again),
        (evidence, entitlements)
    );
}

/// A cycle computed before another node posted the same cycle is stale: its chunk is refused
/// (`cycle_moved`), nothing is written, and computed again it posts nothing twice.
fn a_stale_cycle_is_refused_and_computed_again(s: TestServer) {
    let (scn, all) = setup(s);
    scn.evidence(
        "mar",
        scn.attend("a100", &month(&all, "emp-a", "2026-03"), Presence::Present),
    );
    let ledger = &scn.s.ledger;
    let award = tranche_audit::programme::Id::parse(AWARD).expect("award");
    let period = tranche_audit::programme::Period::parse("2026-03").expect("period");
    let computed_at = scn.s.block_on(ledger.store().tree_size()).expect("size");
    let stale = scn
        .s
        .block_on(ledger.preview_cycle(&award, period))
        .expect("preview");
    assert!(!stale.commands.is_empty());
    // Another node runs the same cycle meanwhile.
    scn.cycle("2026-03");
    let size = scn.s.block_on(ledger.store().tree_size()).expect("size");
    let refused = scn
        .s
        .block_on(ledger.append_unless_entitled_since(
            &stale.commands,
            "user:preparer",
            chrono::Utc::now(),
            &award,
            computed_at,
        ))
        .expect_err("a stale cycle");
    match refused {
        tranche_ledger::StoreError::Invalid(i) => {
            assert_eq!(
                (i.field.as_str(), i.code),
                ("period", tranche_audit::Code::CycleMoved),
                "{i}"
            )
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        scn.s.block_on(ledger.store().tree_size()).expect("size"),
        size,
        "nothing written"
    );
    // Computed again, nothing is missing.
    let again = scn
        .s
        .block_on(ledger.preview_cycle(&award, period))
        .expect("preview");
    assert!(again.commands.is_empty(), "{:?}", again.report);
}

server_on_both_backends!(
    a_stale_cycle_is_refused_and_computed_again,
    the_programme_projections_follow_the_journal,
    hand_computed_scenario,
    bad_inputs_are_refused_and_write_nothing,
    an_evidence_import_is_checked_whole_then_resumes
);

/// Two API nodes on one PostgreSQL primary, written at once: the same statement submitted on
/// both is journaled once, the month's cycle run on both entitles each participant once, and two
/// batches built at once hold every payable item once.
#[test]
fn two_nodes_on_one_postgres_database_entitle_and_pay_once() {
    let Some(s) = TestServer::start(tranche_tests::Backend::Postgres) else {
        return;
    };
    let (scn, all) = setup(s);
    let b = scn.s.second();
    let prep = scn.admin.add_user("prep-two", "preparer", None);
    let field = scn.admin.add_user("hias-two", "partner", Some("hias"));
    let (prep_a, prep_b) = (scn.s.client(&prep), b.client(&prep));
    let (field_a, field_b) = (scn.s.client(&field), b.client(&field));
    let a_mar = month(&all, "emp-a", "2026-03");
    let statement = |batch: &str, who: &str| {
        scn.signed(
            &scn.key,
            "hias",
            batch,
            scn.attend(who, &a_mar, Presence::Present),
        )
        .to_string()
    };
    let jobs: Vec<(Client, String, String)> = vec![
        (field_a.clone(), "two-1".into(), statement("two-a", "a100")),
        (field_b.clone(), "two-2".into(), statement("two-b", "a85")),
        (
            field_a.clone(),
            "two-3".into(),
            statement("two-same", "a80"),
        ),
        (
            field_b.clone(),
            "two-4".into(),
            statement("two-same", "a80"),
        ),
    ];
    let threads: Vec<_> = jobs
        .into_iter()
        .map(|(c, key, body)| std::thread::spawn(move || c.post("/v1/evidence", Some(&key), &body)))
        .collect();
    let mut statuses: Vec<u16> = threads
        .into_iter()
        .map(|t| t.join().expect("client").status)
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        vec![201, 201, 201, 422],
        "the same statement is journaled once"
    );

    let cycle = json!({"award": AWARD, "period": "2026-03"}).to_string();
    let threads: Vec<_> = [&prep_a, &prep_b, &prep_a, &prep_b]
        .into_iter()
        .enumerate()
        .map(|(n, c)| {
            let (c, body) = (c.clone(), cycle.clone());
            std::thread::spawn(move || c.post("/v1/cycles", Some(&format!("two-cycle-{n}")), &body))
        })
        .collect();
    let mut posted = 0;
    for t in threads {
        let r = t.join().expect("client");
        assert!(matches!(r.status, 200 | 201), "{}", r.body);
        posted += r.json()["entitlements"].as_u64().expect("count");
    }
    let store = scn.s.ledger.store();
    let mut live_total = 0i64;
    let mut live_count = 0u64;
    for pid in scn.p.values() {
        let (_, _, rows) = scn
            .s
            .block_on(store.participant_detail(pid))
            .expect("read")
            .expect("registered");
        let reversed: std::collections::HashSet<u64> =
            rows.iter().filter_map(|r| r.reverses).collect();
        let mut bases = std::collections::HashSet::new();
        for r in rows
            .iter()
            .filter(|r| r.reverses.is_none() && !reversed.contains(&r.seq))
        {
            assert!(
                bases.insert(r.basis.clone()),
                "{pid} entitled twice for {}",
                r.basis
            );
            live_total += r.amount_minor;
            live_count += 1;
        }
    }
    assert_eq!(
        posted, live_count,
        "the runs together posted each entitlement once"
    );
    assert!(live_count >= 3, "{live_count}");

    super::disburse::drawdown(&scn, "5000.00");
    super::disburse::settings(&scn, "5000.00");
    let award = json!({"award": AWARD}).to_string();
    let threads: Vec<_> = [&prep_a, &prep_b]
        .into_iter()
        .enumerate()
        .map(|(n, c)| {
            let (c, body) = (c.clone(), award.clone());
            std::thread::spawn(move || {
                c.post("/v1/batches", Some(&format!("two-batch-{n}")), &body)
            })
        })
        .collect();
    let mut batched = 0i64;
    for t in threads {
        let r = t.join().expect("client");
        if r.status == 201 {
            let total: rust_decimal::Decimal = r.json()["total"]
                .as_str()
                .expect("total")
                .parse()
                .expect("decimal");
            batched += (total * rust_decimal::Decimal::from(100))
                .trunc()
                .mantissa() as i64;
        } else {
            assert_eq!(r.status, 422, "{}", r.body);
        }
    }
    assert_eq!(
        batched, live_total,
        "every payable item in exactly one batch"
    );
    let check = scn
        .s
        .block_on(tranche_ledger::store::rebuild::check(
            store,
            scn.s.ledger.verifier(),
            |_, _| {},
        ))
        .expect("check runs");
    assert!(check.is_clean(), "{:?}", check.differences);
}
