use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::account::AccountName;
use crate::money::Money;
use crate::record::Record;

/// Some record, encoded canonically by the reference encoder.
fn encode(seq: u64, kind: &str, at_micros: i64, actor: &str, body: Value) -> Vec<u8> {
    let record = Record {
        seq,
        prev: [0xab; 32],
        kind: kind.to_string(),
        at: DateTime::from_timestamp_micros(at_micros).expect("in range"),
        actor: actor.to_string(),
        body,
    };
    record.encode().expect("small records encode")
}

fn transaction_body(memo: &str) -> Value {
    json!({
        "accounting_date": "2026-03-01",
        "memo": memo,
        "postings": [
            {"account": "expense:c4t-stipend", "currency": "USD", "side": "debit", "amount": "60.00"},
            {"account": "payable:participants", "currency": "USD", "side": "credit", "amount": "60.00"}
        ]
    })
}

const MARCH_2026_MICROS: i64 = 1_772_359_200_000_000;

#[test]
fn every_synthetic_line_takes_the_fast_path_with_the_reference_values() {
    for line in crate::synth::lines(2_000) {
        let fast = fast::parse(&line).expect("a plain canonical record is read by the fast path");
        assert_eq!(Ok(fast), reference_view(&line));
    }
}

#[test]
fn the_fast_path_defers_what_it_cannot_judge_and_the_reference_decides() {
    let good = String::from_utf8(encode(
        7,
        kind::TRANSACTION,
        MARCH_2026_MICROS,
        "finance:ana",
        transaction_body("March"),
    ))
    .expect("utf-8");
    assert!(fast::parse(good.as_bytes()).is_some());
    let escaped = String::from_utf8(encode(
        7,
        kind::TRANSACTION,
        MARCH_2026_MICROS,
        "finance:ana",
        transaction_body("say \"hi\"\n\u{1}"),
    ))
    .expect("utf-8");
    let leap_day = good.replace("2026-03-01", "2024-02-29");
    assert_eq!(
        fast::parse(leap_day.as_bytes()).map(Ok),
        Some(reference_view(leap_day.as_bytes()))
    );
    let old = good.replace("2026-03-01", "1899-12-31");
    let cases: Vec<(String, Option<&str>)> = vec![
        // Canonical but outside the fast subset: the reference accepts.
        (escaped, None),
        (old, None),
        (good.replace("\"seq\":7", "\"seq\":9007199254740991"), None),
        // Not canonical or not valid: the reference refuses.
        (
            good.replace("\"seq\":7", "\"seq\":07"),
            Some(rule::MALFORMED_RECORD),
        ),
        (
            good.replace("\"seq\":7", "\"seq\":7.0"),
            Some(rule::MALFORMED_RECORD),
        ),
        (
            good.replace("\"v\":1}", "\"v\":1.0}"),
            Some(rule::MALFORMED_RECORD),
        ),
        (
            good.replace("\"memo\":\"March\"", "\"memo\":\"M\\u0061rch\""),
            Some(rule::NON_CANONICAL),
        ),
        (
            good.replace("\"memo\":\"March\"", "\"memo\":\"a\\/b\""),
            Some(rule::NON_CANONICAL),
        ),
        (
            good.replace("\"memo\":\"March\"", "\"memo\":\"a\u{1}b\""),
            Some(rule::MALFORMED_RECORD),
        ),
        (good.replacen(':', ": ", 1), Some(rule::NON_CANONICAL)),
        (format!("{good} "), Some(rule::NON_CANONICAL)),
        (format!("{good}\r"), Some(rule::NON_CANONICAL)),
        (good.replace("abab", "ABAB"), Some(rule::MALFORMED_RECORD)),
        (
            good.replace("2026-03-01", "2026-02-29"),
            Some(rule::MALFORMED_RECORD),
        ),
        (
            good.replace("T10:00:00.000000Z", "T10:00:00Z"),
            Some(rule::MALFORMED_RECORD),
        ),
        (
            good.replace("\"finance:ana\"", "\"\""),
            Some(rule::MALFORMED_RECORD),
        ),
    ];
    for (line, refused) in cases {
        assert!(fast::parse(line.as_bytes()).is_none(), "{line}");
        let reference = reference_view(line.as_bytes());
        match refused {
            None => assert!(reference.is_ok(), "{line}: {reference:?}"),
            Some(rule) => assert_eq!(reference.map_err(|e| e.0), Err(rule), "{line}"),
        }
    }
}

#[test]
fn a_body_of_another_kind_is_left_to_the_reference_which_calls_it_invalid() {
    let line = encode(
        3,
        kind::ACCOUNT_OPEN,
        MARCH_2026_MICROS,
        "admin",
        json!({"name": "bank"}),
    );
    assert!(fast::parse(&line).is_none());
    let view = reference_view(&line).expect("a well-formed record");
    assert!(matches!(view.body, Body::Invalid(ref e) if e.code.as_str() == rule::INVALID_BODY));
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z0-9 :.-]{0,12}",
        2 => "\\PC{0,8}",
        1 => any::<String>(),
        1 => Just("\"\\/\u{7f}\u{2028}\u{1f600}".to_string()),
    ]
}

fn arb_amount() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,4}\\.[0-9]{2}",
        "[0-9.]{0,8}",
        Just("0.00".to_string())
    ]
}

fn arb_body() -> impl Strategy<Value = (String, Value)> {
    let posting = (
        prop_oneof![Just("bank".to_string()), "[a-z:]{1,10}", arb_text()],
        prop_oneof![Just("USD"), Just("CLP"), Just("XYZ")],
        prop_oneof![4 => Just("debit"), 4 => Just("credit"), 1 => Just("Debit")],
        arb_amount(),
    )
        .prop_map(|(account, currency, side, amount)| {
            json!({"account": account, "currency": currency, "side": side, "amount": amount})
        });
    prop_oneof![
        (
            arb_text(),
            prop::collection::vec(posting, 0..4),
            prop::option::of(prop_oneof![0u64..100, any::<u64>()])
        )
            .prop_map(|(memo, postings, reverses)| {
                let mut body = json!({"memo": memo, "postings": postings});
                if let Some(r) = reverses {
                    body["reverses"] = json!(r);
                }
                (kind::TRANSACTION.to_string(), body)
            }),
        (arb_text(), arb_text()).prop_map(|(origin, vkey)| (
            kind::LEDGER_KEY.to_string(),
            json!({"origin": origin, "vkey": vkey})
        )),
        (
            arb_text(),
            prop_oneof![4 => Just("asset"), 4 => Just("memo"), 1 => Just("Asset")],
            prop::option::of(arb_text())
        )
            .prop_map(|(name, t, d)| {
                let mut body = json!({"name": name, "type": t});
                if let Some(d) = d {
                    body["description"] = json!(d);
                }
                (kind::ACCOUNT_OPEN.to_string(), body)
            }),
        arb_text().prop_map(|name| (kind::ACCOUNT_CLOSE.to_string(), json!({"name": name}))),
        (prop_oneof!["[a-z.]{1,14}", arb_text()], arb_text())
            .prop_map(|(k, name)| (k, json!({"name": name}))),
    ]
}

/// Edits that keep a line parseable or break it in the places the fast path looks at.
fn mutate(line: &[u8], how: u8, at: usize, byte: u8) -> Vec<u8> {
    let mut out = line.to_vec();
    if out.is_empty() {
        return out;
    }
    let at = at % out.len();
    match how % 12 {
        0..=5 => {}
        6 => out[at] = byte,
        7 => out.insert(at, byte),
        8 => {
            out.remove(at);
        }
        9 => out.insert(at, b' '),
        _ => out[at] ^= 0x20,
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// The fast decoder never accepts what the reference refuses, and agrees on every value.
    #[test]
    fn the_fast_path_only_accepts_what_the_reference_accepts_with_the_same_values(
        seq in prop_oneof![0u64..1000, any::<u64>()],
        (kind, body) in arb_body(),
        micros in prop_oneof![
            MARCH_2026_MICROS..MARCH_2026_MICROS + 1_000_000_000,
            -62_135_596_800_000_000i64..253_402_300_799_999_999,
        ],
        actor in prop_oneof![3 => Just("finance:ana".to_string()), 1 => arb_text()],
        how in any::<u8>(),
        at in any::<usize>(),
        byte in prop_oneof![any::<u8>(), prop::sample::select(b"\"\\:,{}[]0 1.e-".to_vec())],
    ) {
        let Ok(record) = (Record { seq, prev: [0x5c; 32], kind, at: DateTime::from_timestamp_micros(micros).expect("in range"), actor, body }).encode() else {
            return Ok(());
        };
        let line = mutate(&record, how, at, byte);
        if let Some(fast) = fast::parse(&line) {
            prop_assert_eq!(Ok(fast), reference_view(&line));
        }
    }

    /// The same, starting from lines the fast path reads, edited once or twice anywhere.
    #[test]
    fn an_edited_synthetic_line_is_read_by_the_fast_path_only_if_the_reference_agrees(
        index in 0usize..40,
        edits in prop::collection::vec(
            (6u8..12, any::<usize>(), prop_oneof![any::<u8>(), prop::sample::select(b"\"\\:,{}[]0 1.e-aA".to_vec())]),
            1..3,
        ),
    ) {
        static LINES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        let mut line = LINES.get_or_init(|| crate::synth::lines(40).collect())[index].clone();
        for (how, at, byte) in edits {
            line = mutate(&line, how, at, byte);
        }
        if let Some(fast) = fast::parse(&line) {
            prop_assert_eq!(Ok(fast), reference_view(&line));
        }
    }

    #[test]
    fn canonical_minor_agrees_with_the_money_rules(text in "[0-9.]{0,22}", currency in prop::sample::select(Currency::all().collect::<Vec<_>>())) {
        let reference = Money::parse_positive(&text, currency)
            .ok()
            .filter(|m| m.to_string() == text)
            .map(|m| m.minor());
        let fast = canonical_minor(&text, currency);
        if fast.is_some() {
            prop_assert_eq!(fast, reference);
        }
        if text.len() <= 18 {
            prop_assert_eq!(fast, reference);
        }
    }

    #[test]
    fn the_balance_shortcut_agrees_with_check_balanced(
        postings in prop::collection::vec((0usize..6, any::<bool>(), 1i64..50), 0..10)
    ) {
        let currencies: Vec<Currency> = ["USD", "CLP", "EUR", "MXN", "JOD", "COP"]
            .iter()
            .map(|c| Currency::parse(c).expect("known"))
            .collect();
        let typed: Vec<Posting> = postings
            .iter()
            .map(|&(c, debit, minor)| Posting {
                account: AccountName::parse("bank").expect("valid"),
                side: if debit { Side::Debit } else { Side::Credit },
                money: Money::from_minor(minor, currencies[c]),
            })
            .collect();
        let checked: Vec<CheckedPosting> = typed
            .iter()
            .map(|p| CheckedPosting { currency: p.money.currency(), minor: p.money.minor(), side: p.side, account: None })
            .collect();
        prop_assert_eq!(balanced(&checked), check_balanced(&typed).is_ok());
    }
}

#[test]
fn balanced_refuses_fewer_than_two_and_more_than_the_limit() {
    let usd = Currency::parse("USD").expect("known");
    let p = |side| CheckedPosting {
        currency: usd,
        minor: 100,
        side,
        account: None,
    };
    assert!(!balanced(&[]));
    assert!(!balanced(&[p(Side::Debit)]));
    assert!(balanced(&[p(Side::Debit), p(Side::Credit)]));
    let many: Vec<CheckedPosting> = (0..MAX_POSTINGS + 2)
        .map(|i| {
            p(if i % 2 == 0 {
                Side::Debit
            } else {
                Side::Credit
            })
        })
        .collect();
    assert!(!balanced(&many));
}

/// A verifier over a journal held in memory, for rule tests without files.
pub(super) fn run(lines: &[Vec<u8>], signer: &crate::note::NoteSigner) -> Result<Summary, Failure> {
    let mut frontier = Frontier::new();
    for l in lines {
        frontier.push(leaf_hash(l), |_, _| {});
    }
    let cp = Checkpoint::new(signer.name(), frontier.size(), frontier.root());
    let note = signer.sign(&cp.to_text()).expect("valid checkpoint text");
    let mut v = Verifier::new(signer.verifier(), &note)?;
    for l in lines {
        v.push_line(l)?;
    }
    v.finish()
}

/// Chains records (seq and prev) and encodes them.
pub(super) fn chain(records: Vec<(&str, Value)>, signer: &crate::note::NoteSigner) -> Vec<Vec<u8>> {
    let mut prev = ZERO_HASH;
    let mut out = Vec::new();
    let mut all = vec![(
        kind::LEDGER_KEY,
        json!({"origin": signer.name(), "vkey": signer.verifier().to_vkey()}),
    )];
    all.extend(records);
    for (seq, (kind, mut body)) in all.into_iter().enumerate() {
        // A record that posts is dated; these journals date it the day they are written.
        let posts = [
            kind::TRANSACTION,
            kind::ENTITLEMENT,
            kind::BATCH_SEND,
            kind::BANK_STATUS,
        ];
        if posts.contains(&kind) {
            if let Some(m) = body.as_object_mut() {
                m.entry("accounting_date")
                    .or_insert_with(|| json!("2026-03-01"));
            }
        }
        let record = Record {
            seq: seq as u64,
            prev,
            kind: kind.to_string(),
            at: DateTime::from_timestamp_micros(MARCH_2026_MICROS + seq as i64).expect("in range"),
            actor: "test".into(),
            body,
        };
        let bytes = record.encode().expect("encodes");
        prev = leaf_hash(&bytes);
        out.push(bytes);
    }
    out
}

pub(super) fn open(name: &str, t: &str) -> (&'static str, Value) {
    (kind::ACCOUNT_OPEN, json!({"name": name, "type": t}))
}

fn tx(postings: &[(&str, &str, &str, &str)]) -> (&'static str, Value) {
    let postings: Vec<Value> = postings
        .iter()
        .map(|(account, side, amount, currency)| {
            json!({"account": account, "side": side, "amount": amount, "currency": currency})
        })
        .collect();
    (
        kind::TRANSACTION,
        json!({"memo": "m", "postings": postings}),
    )
}

pub(super) fn rule_of(records: Vec<(&str, Value)>) -> Result<(), (Option<u64>, &'static str)> {
    let signer = crate::synth::signer();
    let lines = chain(records, &signer);
    let fast = run(&lines, &signer)
        .map(|_| ())
        .map_err(|f| (f.seq, f.rule));
    // The reference decoder must reach the very same verdict.
    let mut frontier = Frontier::new();
    for l in &lines {
        frontier.push(leaf_hash(l), |_, _| {});
    }
    let cp = Checkpoint::new(signer.name(), frontier.size(), frontier.root());
    let note = signer.sign(&cp.to_text()).expect("valid checkpoint text");
    let mut v = Verifier::new(signer.verifier(), &note).expect("signed by the key");
    v.use_reference_decoder(true);
    let reference = lines
        .iter()
        .try_for_each(|l| v.push_line(l))
        .and_then(|()| v.finish().map(|_| ()))
        .map_err(|f| (f.seq, f.rule));
    assert_eq!(fast, reference);
    fast
}

#[test]
fn the_account_rules_hold() {
    let usd = |a: &str, b: &str| tx(&[(a, "debit", "5.00", "USD"), (b, "credit", "5.00", "USD")]);
    assert_eq!(
        rule_of(vec![
            open("bank", "asset"),
            open("fund", "equity"),
            usd("bank", "fund")
        ]),
        Ok(())
    );
    assert_eq!(
        rule_of(vec![open("bank", "asset"), open("bank", "asset")]),
        Err((Some(2), rule::ACCOUNT_OPENED_TWICE))
    );
    assert_eq!(
        rule_of(vec![open("bank", "asset"), usd("bank", "fund")]),
        Err((Some(2), rule::UNKNOWN_ACCOUNT))
    );
    assert_eq!(
        rule_of(vec![open("a::b", "asset")]),
        Err((Some(1), "invalid_account_name"))
    );
    let close = |n: &str| (kind::ACCOUNT_CLOSE, json!({"name": n}));
    assert_eq!(
        rule_of(vec![
            open("bank", "asset"),
            open("fund", "equity"),
            usd("bank", "fund"),
            close("bank")
        ]),
        Err((Some(4), rule::ACCOUNT_NOT_EMPTY))
    );
    assert_eq!(
        rule_of(vec![
            open("bank", "asset"),
            open("fund", "equity"),
            usd("bank", "fund"),
            usd("fund", "bank"),
            close("bank"),
            usd("bank", "fund"),
        ]),
        Err((Some(6), rule::ACCOUNT_CLOSED))
    );
    assert_eq!(
        rule_of(vec![close("bank")]),
        Err((Some(1), rule::UNKNOWN_ACCOUNT))
    );
    assert_eq!(
        rule_of(vec![open("bank", "asset"), close("bank"), close("bank")]),
        Err((Some(3), rule::ACCOUNT_CLOSED))
    );
    assert_eq!(
        rule_of(vec![
            open("bank", "asset"),
            close("bank"),
            open("bank", "asset")
        ]),
        Err((Some(3), rule::ACCOUNT_OPENED_TWICE))
    );
}

#[test]
fn the_transaction_rules_hold_in_order() {
    let opens = || {
        vec![
            open("bank", "asset"),
            open("fund", "equity"),
            open("ob", "memo"),
            open("oc", "memo"),
        ]
    };
    let with = |t: (&'static str, Value)| {
        let mut r = opens();
        r.push(t);
        rule_of(r)
    };
    let at = Some(5);
    assert_eq!(
        with(tx(&[
            ("bank", "debit", "5.00", "USD"),
            ("fund", "credit", "4.00", "USD")
        ])),
        Err((at, "unbalanced"))
    );
    assert_eq!(
        with(tx(&[
            ("bank", "debit", "5.00", "USD"),
            ("fund", "credit", "5.00", "EUR")
        ])),
        Err((at, "unbalanced"))
    );
    assert_eq!(
        with(tx(&[("bank", "debit", "5.00", "USD")])),
        Err((at, "too_few_postings"))
    );
    assert_eq!(
        with(tx(&[
            ("bank", "debit", "5", "USD"),
            ("fund", "credit", "5.00", "USD")
        ])),
        Err((at, "non_canonical_amount"))
    );
    assert_eq!(
        with(tx(&[
            ("bank", "debit", "5.001", "USD"),
            ("fund", "credit", "5.00", "USD")
        ])),
        Err((at, "too_many_decimals"))
    );
    assert_eq!(
        with(tx(&[
            ("bank", "debit", "0.00", "USD"),
            ("fund", "credit", "0.00", "USD")
        ])),
        Err((at, "amount_not_positive"))
    );
    assert_eq!(
        with(tx(&[
            ("bank", "debit", "5.00", "XYZ"),
            ("fund", "credit", "5.00", "XYZ")
        ])),
        Err((at, "unknown_currency"))
    );
    // A malformed posting is reported before the unknown account of an earlier one.
    assert_eq!(
        with(tx(&[
            ("nope", "debit", "5.00", "USD"),
            ("fund", "credit", "5.0x", "USD")
        ])),
        Err((at, "invalid_amount"))
    );
    assert_eq!(
        with(tx(&[
            ("nope", "debit", "5.00", "USD"),
            ("fund", "credit", "5.00", "USD")
        ])),
        Err((at, rule::UNKNOWN_ACCOUNT))
    );
    assert_eq!(
        with(tx(&[
            ("bank", "debit", "5.00", "USD"),
            ("oc", "credit", "5.00", "USD")
        ])),
        Err((at, rule::MEMO_MIXED))
    );
    assert_eq!(
        with(tx(&[
            ("ob", "debit", "800.00", "USD"),
            ("oc", "credit", "800.00", "USD")
        ])),
        Ok(())
    );
    assert_eq!(
        with(tx(&[
            ("bank", "debit", "1500", "CLP"),
            ("fund", "credit", "1500", "CLP")
        ])),
        Ok(())
    );
    let mut reversal = tx(&[
        ("bank", "debit", "5.00", "USD"),
        ("fund", "credit", "5.00", "USD"),
    ]);
    reversal.1["reverses"] = json!(5);
    assert_eq!(
        with(reversal.clone()),
        Err((at, rule::REVERSES_NOT_EARLIER))
    );
    // Seq 4 is an account.open: only a transaction can be reversed.
    reversal.1["reverses"] = json!(4);
    assert_eq!(with(reversal), Err((at, rule::REVERSES_NOT_A_TRANSACTION)));
    let (k, mut bad) = tx(&[
        ("bank", "debit", "5.00", "USD"),
        ("fund", "credit", "5.00", "USD"),
    ]);
    bad["extra"] = json!(1);
    assert_eq!(with((k, bad)), Err((at, rule::INVALID_BODY)));
    assert_eq!(
        with(("payment.file", json!({}))),
        Err((at, rule::UNKNOWN_KIND))
    );
    assert_eq!(
        with((kind::LEDGER_KEY, json!({"origin": "x", "vkey": "y"}))),
        Err((at, rule::UNEXPECTED_LEDGER_KEY))
    );
}

#[test]
fn the_summary_counts_what_was_verified() {
    let signer = crate::synth::signer();
    let lines = chain(
        vec![
            open("bank", "asset"),
            open("fund", "equity"),
            tx(&[
                ("bank", "debit", "5.00", "USD"),
                ("fund", "credit", "5.00", "USD"),
            ]),
            tx(&[
                ("bank", "debit", "2.50", "USD"),
                ("fund", "credit", "2.50", "USD"),
            ]),
            tx(&[
                ("bank", "debit", "1500", "CLP"),
                ("fund", "credit", "1500", "CLP"),
            ]),
        ],
        &signer,
    );
    let s = run(&lines, &signer).expect("valid");
    assert_eq!(
        (s.records, s.transactions, s.accounts, s.accounts_closed),
        (6, 3, 2, 0)
    );
    let moved: Vec<(String, String)> = s
        .moved_minor
        .iter()
        .map(|(c, m)| (c.code().to_string(), format_minor(*m, *c)))
        .collect();
    assert_eq!(
        moved,
        vec![("CLP".into(), "1500".into()), ("USD".into(), "7.50".into())]
    );
    assert_eq!(
        s.first_at.map(format_time).as_deref(),
        Some("2026-03-01T10:00:00.000000Z")
    );
    assert_eq!(
        s.last_at.map(format_time).as_deref(),
        Some("2026-03-01T10:00:00.000005Z")
    );
    assert_eq!(s.origin, crate::synth::ORIGIN);
}

#[test]
fn the_genesis_must_name_this_key_and_origin() {
    let signer = crate::synth::signer();
    let other =
        crate::note::NoteSigner::from_seed(crate::synth::ORIGIN, [9u8; 32]).expect("valid name");
    let mut lines = chain(vec![], &signer);
    let wrong_key = Record {
        seq: 0,
        prev: ZERO_HASH,
        kind: kind::LEDGER_KEY.into(),
        at: DateTime::from_timestamp_micros(MARCH_2026_MICROS).expect("in range"),
        actor: "ledger".into(),
        body: json!({"origin": crate::synth::ORIGIN, "vkey": other.verifier().to_vkey()}),
    };
    lines[0] = wrong_key.encode().expect("encodes");
    assert_eq!(
        run(&lines, &signer).map_err(|f| f.rule),
        Err(rule::WRONG_LEDGER_KEY)
    );
    let mut wrong_origin = wrong_key.clone();
    wrong_origin.body = json!({"origin": "elsewhere", "vkey": signer.verifier().to_vkey()});
    lines[0] = wrong_origin.encode().expect("encodes");
    assert_eq!(
        run(&lines, &signer).map_err(|f| f.rule),
        Err(rule::ORIGIN_MISMATCH)
    );
    let mut not_a_key = wrong_key;
    not_a_key.kind = kind::ACCOUNT_OPEN.into();
    not_a_key.body = json!({"name": "bank", "type": "asset"});
    lines[0] = not_a_key.encode().expect("encodes");
    assert_eq!(
        run(&lines, &signer).map_err(|f| (f.seq, f.rule)),
        Err((Some(0), rule::MISSING_LEDGER_KEY))
    );
}

#[test]
fn an_empty_journal_matches_only_the_empty_root() {
    let signer = crate::synth::signer();
    assert!(run(&[], &signer).is_ok());
    let cp = Checkpoint::new(signer.name(), 0, [1u8; 32]);
    let note = signer.sign(&cp.to_text()).expect("valid text");
    let v = Verifier::new(signer.verifier(), &note).expect("signed");
    assert_eq!(
        v.finish().map_err(|f| (f.seq, f.rule)),
        Err((None, rule::ROOT_MISMATCH))
    );
}

#[test]
fn after_a_failure_the_verifier_keeps_reporting_it() {
    let signer = crate::synth::signer();
    let lines = chain(vec![open("bank", "asset")], &signer);
    let cp = Checkpoint::new(signer.name(), 2, [0u8; 32]);
    let note = signer.sign(&cp.to_text()).expect("valid text");
    let mut v = Verifier::new(signer.verifier(), &note).expect("signed");
    let first = v
        .push_line(&lines[1])
        .expect_err("seq 1 where 0 is expected");
    assert_eq!((first.seq, first.rule), (Some(0), rule::SEQ_GAP));
    assert_eq!(v.push_line(&lines[0]), Err(first.clone()));
    assert_eq!(v.finish(), Err(first));
}

#[test]
fn a_reversal_must_mirror_its_original_once() {
    let t = |postings: &[(&str, &str, &str, &str)], reverses: Option<u64>| {
        let (k, mut b) = tx(postings);
        if let Some(r) = reverses {
            b["reverses"] = json!(r);
        }
        (k, b)
    };
    let base = || {
        vec![
            open("bank", "asset"),
            open("fund", "equity"),
            open("other", "asset"),
            t(
                &[
                    ("bank", "debit", "5.00", "USD"),
                    ("fund", "credit", "5.00", "USD"),
                ],
                None,
            ),
        ]
    };
    // The mirror (in any order) is accepted.
    let mut r = base();
    r.push(t(
        &[
            ("fund", "debit", "5.00", "USD"),
            ("bank", "credit", "5.00", "USD"),
        ],
        Some(4),
    ));
    assert_eq!(rule_of(r.clone()), Ok(()));
    // Twice, or a reversal of the reversal: refused.
    let mut twice = r.clone();
    twice.push(t(
        &[
            ("fund", "debit", "5.00", "USD"),
            ("bank", "credit", "5.00", "USD"),
        ],
        Some(4),
    ));
    assert_eq!(rule_of(twice), Err((Some(6), rule::ALREADY_REVERSED)));
    let mut again = r.clone();
    again.push(t(
        &[
            ("bank", "debit", "5.00", "USD"),
            ("fund", "credit", "5.00", "USD"),
        ],
        Some(5),
    ));
    assert_eq!(rule_of(again), Err((Some(6), rule::REVERSAL_OF_REVERSAL)));
    // Another amount, another account, the same sides: not a mirror.
    for wrong in [
        [
            ("fund", "debit", "4.00", "USD"),
            ("bank", "credit", "4.00", "USD"),
        ],
        [
            ("fund", "debit", "5.00", "USD"),
            ("other", "credit", "5.00", "USD"),
        ],
        [
            ("bank", "debit", "5.00", "USD"),
            ("fund", "credit", "5.00", "USD"),
        ],
    ] {
        let mut r = base();
        r.push(t(&wrong, Some(4)));
        assert_eq!(rule_of(r), Err((Some(5), rule::NOT_A_MIRROR)), "{wrong:?}");
    }
}
