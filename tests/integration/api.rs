//! The HTTP API end to end, on both backends: the real server on port 0, spoken to over HTTP.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use tranche_api::server::access::{self, Access};
use tranche_api::server::auth::Role;
use tranche_audit::merkle::{verify_consistency, verify_inclusion};
use tranche_audit::note::{open_checkpoint, NoteVerifier};
use tranche_audit::verify::Verifier;
use tranche_tests::{server_on_both_backends, Client, TestServer};

const ACCOUNTS: &[(&str, &str)] = &[
    ("bank:operating", "asset"),
    ("fund:bprm", "equity"),
    ("expense:c4t-stipend", "expense"),
    ("payable:participant:P-00012", "liability"),
];

fn open_accounts(c: &Client) {
    for (name, t) in ACCOUNTS {
        let r = c.post(
            "/v1/accounts",
            Some(&format!("open-{name}")),
            &format!(r#"{{"name":"{name}","type":"{t}"}}"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

fn stipend(amount: &str) -> String {
    format!(
        r#"{{"memo":"C4T","postings":[
        {{"account":"expense:c4t-stipend","currency":"USD","side":"debit","amount":"{amount}"}},
        {{"account":"payable:participant:P-00012","currency":"USD","side":"credit","amount":"{amount}"}}]}}"#
    )
}

fn size(s: &TestServer) -> u64 {
    s.block_on(s.ledger.store().tree_size()).expect("size")
}

fn posted_seq(r: &tranche_tests::Reply) -> u64 {
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["first_seq"].as_u64().expect("first_seq")
}

fn role_matrix_holds_for_every_route(s: TestServer) {
    let admin = s.admin();
    let tokens: Vec<(&str, String)> = ["preparer", "approver", "partner", "auditor", "donor"]
        .iter()
        .map(|role| {
            let partner = (*role == "partner").then_some("hias");
            (*role, admin.add_user(&format!("u-{role}"), role, partner))
        })
        .chain(std::iter::once(("admin", s.admin.clone())))
        .collect();
    for entry in access::API {
        let (method, path) = (entry.method, entry.path);
        let concrete = path
            .replace("{seq}", "0")
            .replace("{name}", "nobody")
            .replace("{award}", "nobody")
            .replace("{partner}", "nobody")
            .replace("{cohort}", "nobody")
            .replace("{participant}", "nobody")
            .replace("{batch}", "nobody")
            .replace("{format}", "csv")
            .replace("{e2e}", "nobody")
            .replace("{kind}", "sf425")
            + if path.contains("inclusion") {
                "?seq=0"
            } else if path.contains("consistency") {
                "?size1=1&size2=1"
            } else {
                ""
            };
        let call = |c: &Client| match method {
            "GET" => c.get(&concrete),
            _ => c.post(&concrete, Some("matrix"), "{}"),
        };
        let anonymous = call(&Client::new(&s.url, ""));
        match entry.access {
            Access::Public => assert!(
                anonymous.status < 400
                    || (anonymous.status == 404 && !anonymous.body.contains("no such route")),
                "{method} {path} is public: {}",
                anonymous.body
            ),
            Access::Roles(_) => {
                anonymous.problem(401, "unauthorized", None);
                for (role, token) in &tokens {
                    let r = call(&s.client(token));
                    let may = entry.access.allows(Role::parse(role));
                    if may {
                        assert!(
                            r.status != 401 && r.status != 403,
                            "{role} may {method} {path}: {}",
                            r.body
                        );
                    } else {
                        r.problem(403, "forbidden", None);
                    }
                }
            }
        }
    }
    // A revoked token is refused like an unknown one.
    let r = admin.post("/v1/users/u-auditor/revoke", Some("revoke"), "");
    assert_eq!(r.status, 204, "{}", r.body);
    let auditor = &tokens
        .iter()
        .find(|(r, _)| *r == "auditor")
        .expect("auditor")
        .1;
    s.client(auditor)
        .get("/v1/balances")
        .problem(401, "unauthorized", None);
    s.client("tr_not-a-real-token")
        .get("/v1/balances")
        .problem(401, "unauthorized", None);
}

fn the_last_active_admin_cannot_be_revoked(s: TestServer) {
    let admin = s.admin();
    let users = |c: &Client| c.get("/v1/users").json();
    let before = users(&admin);
    admin
        .post("/v1/users/admin/revoke", Some("last"), "")
        .problem(409, "last_admin", Some("name"));
    assert_eq!(users(&admin), before, "the refusal changed nothing");
    // With a second admin, the first may go; then the second is the last.
    let second = admin.add_user("admin-2", "admin", None);
    let second = s.client(&second);
    let r = second.post("/v1/users/admin/revoke", Some("first"), "");
    assert_eq!(r.status, 204, "{}", r.body);
    admin.get("/v1/me").problem(401, "unauthorized", None);
    second
        .post("/v1/users/admin-2/revoke", Some("self"), "")
        .problem(409, "last_admin", Some("name"));
    assert_eq!(second.get("/v1/me").json()["name"], "admin-2");
}

/// Every refusal is problem+json with a stable code, the framework's own included, and every
/// API response is neither cached nor sniffed; none of these refusals writes anything.
fn every_refusal_is_a_problem_document_and_nothing_is_cached(s: TestServer) {
    let c = s.admin();
    open_accounts(&c);
    let before = size(&s);
    // A path segment that is not a number, a query that does not parse or lacks a parameter.
    c.get("/v1/records/abc")
        .problem(400, "invalid_path", Some("seq"));
    c.get("/v1/receipts/-1")
        .problem(400, "invalid_path", Some("seq"));
    c.post("/v1/transactions/x/reverse", Some("r-x"), "{}")
        .problem(400, "invalid_path", Some("seq"));
    c.get("/v1/records?from=abc")
        .problem(400, "invalid_query", Some("from"));
    c.get("/v1/proofs/inclusion")
        .problem(400, "invalid_query", Some("seq"));
    c.get("/v1/proofs/consistency?size1=1&size2=x")
        .problem(400, "invalid_query", Some("size2"));
    c.get("/v1/reports/sf425?quarter=2026Q1")
        .problem(400, "invalid_query", Some("award"));
    // A method a route does not serve keeps its Allow header; an unknown route is 404.
    let r = c.call("DELETE", "/v1/balances");
    r.problem(405, "method_not_allowed", None);
    assert!(r.headers.contains_key("allow"), "{:?}", r.headers);
    c.get("/v1/nothing-here").problem(404, "not_found", None);
    // A body over the limit, keyed or not.
    let big = format!(r#"{{"memo":"{}"}}"#, "x".repeat(1024 * 1024 + 1));
    c.post("/v1/transactions", Some("big"), &big)
        .problem(413, "body_too_large", None);
    c.post("/v1/transactions", None, &big)
        .problem(413, "body_too_large", None);
    assert_eq!(size(&s), before, "no refusal wrote anything");
    // Every API answer, good or bad, public or not: no-store, nosniff.
    for r in [
        c.get("/v1/balances"),
        c.get("/v1/records/abc"),
        Client::new(&s.url, "").get("/v1/checkpoint"),
        Client::new(&s.url, "").get("/v1/balances"),
        c.call("DELETE", "/v1/balances"),
        Client::new(&s.url, "").get("/openapi.json"),
    ] {
        assert_eq!(
            r.headers.get("cache-control").map(String::as_str),
            Some("no-store"),
            "{:?}",
            r.headers
        );
        assert_eq!(
            r.headers.get("x-content-type-options").map(String::as_str),
            Some("nosniff")
        );
    }
    // A client cannot smuggle a request identity past the server: its own is ignored.
    let r = c.post("/v1/transactions", Some("smuggle"), &stipend("5.00"));
    assert_eq!(r.status, 201, "{}", r.body);
    let forged = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(format!("{}/v1/transactions", s.url))
        .header("Authorization", format!("Bearer {}", s.admin))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "smuggle")
        .header("x-tranche-request-hash", "00".repeat(32))
        .send(stipend("5.00"))
        .expect("answers");
    assert_eq!(forged.status().as_u16(), 201, "a true retry is replayed");
    assert!(forged.headers().contains_key("idempotent-replayed"));
}

fn the_openapi_document_lists_every_route_and_nothing_else(s: TestServer) {
    let doc = Client::new(&s.url, "").get("/openapi.json").json();
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("methods").keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = tranche_api::server::routes()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);
    let concrete = |p: &str| {
        p.replace("{seq}", "0")
            .replace("{name}", "x")
            .replace("{batch}", "x")
            .replace("{format}", "csv")
            .replace("{e2e}", "x")
            .replace("{kind}", "x")
            .replace("{award}", "x")
            .replace("{partner}", "x")
            .replace("{cohort}", "x")
            .replace("{participant}", "x")
    };
    // Each documented path serves exactly the documented methods: a method no route uses is
    // refused 405 with the methods the router has for that path.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let mut documented: Vec<String> = item
            .as_object()
            .expect("methods")
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        if documented.iter().any(|m| m == "GET") {
            documented.push("HEAD".into());
        }
        documented.sort();
        let r = s.admin().call("DELETE", &concrete(path));
        assert_eq!(r.status, 405, "DELETE {path}: {}", r.body);
        let mut allowed: Vec<String> = r.headers["allow"]
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        allowed.sort();
        assert_eq!(
            allowed, documented,
            "{path}: routed methods and documented ones differ"
        );
    }
    // And every listed route is really served (not a 404 from the fallback).
    for (m, p) in &routes {
        let path = concrete(p);
        let r = if m == "GET" {
            s.admin().get(&path)
        } else {
            s.admin().post(&path, Some("probe"), "{}")
        };
        assert!(
            !(r.status == 404 && r.body.contains("no such route")),
            "{m} {p} is not routed"
        );
    }
}

fn writes_are_idempotent_per_key(s: TestServer) {
    let c = s.admin();
    open_accounts(&c);
    let first = c.post("/v1/transactions", Some("stipend-1"), &stipend("60.00"));
    let seq = posted_seq(&first);
    let before = size(&s);
    // Same key, same request (even spelled differently): same answer, nothing written.
    let again = c.post(
        "/v1/transactions",
        Some("stipend-1"),
        &stipend("60.00").replace('\n', " "),
    );
    assert_eq!(
        (again.status, again.body.clone()),
        (first.status, first.body.clone())
    );
    assert!(again.replayed);
    assert_eq!(size(&s), before);
    // Same key, another request: 409, nothing written; also when the other request is itself
    // invalid (the key is checked first), or malformed, or for another route.
    c.post("/v1/transactions", Some("stipend-1"), &stipend("61.00"))
        .problem(409, "idempotency_key_reused", Some("Idempotency-Key"));
    c.post("/v1/transactions", Some("stipend-1"), &stipend("61.005"))
        .problem(409, "idempotency_key_reused", Some("Idempotency-Key"));
    c.post("/v1/transactions", Some("stipend-1"), "{not json")
        .problem(409, "idempotency_key_reused", Some("Idempotency-Key"));
    c.post("/v1/accounts", Some("stipend-1"), r#"{"name":"x"}"#)
        .problem(409, "idempotency_key_reused", Some("Idempotency-Key"));
    assert_eq!(size(&s), before);
    // Keys are per user: another user may use the same key.
    let other = s.client(&c.add_user("ana", "preparer", None));
    let r = other.post("/v1/transactions", Some("stipend-1"), &stipend("60.00"));
    assert_eq!(
        posted_seq(&r),
        before,
        "the next seq is the size before the write"
    );
    // No key: refused.
    c.post("/v1/transactions", None, &stipend("1.00")).problem(
        400,
        "missing_idempotency_key",
        Some("Idempotency-Key"),
    );
    assert_eq!(size(&s), before + 1);
    assert_eq!(seq + 1, before);
}

fn bad_input_is_a_problem_naming_the_field_and_writes_nothing(s: TestServer) {
    let c = s.admin();
    open_accounts(&c);
    let before = size(&s);
    let post = |key: &str, body: &str| c.post("/v1/transactions", Some(key), body);
    post("b1", "{\"memo\": ").problem(400, "malformed_json", None);
    post(
        "b2",
        &stipend("1.00").replacen("\"memo\"", "\"memo\":\"x\",\"colour\"", 1),
    )
    .problem(400, "unknown_field", Some("colour"));
    post("b3", r#"{"memo":"x","postings":[{"account":"bank:operating","currency":"USD","side":"debit","amount":60}]}"#)
        .problem(400, "invalid_field", Some("postings[0].amount"));
    post("b4", &stipend("1.001")).problem(422, "too_many_decimals", Some("postings[0].amount"));
    post("b5", &stipend("1.00").replacen("\"1.00\"", "\"2.00\"", 1)).problem(
        422,
        "unbalanced",
        Some("postings"),
    );
    post(
        "b6",
        &stipend("1.00").replace("expense:c4t-stipend", "expense:nothing"),
    )
    .problem(422, "unknown_account", Some("postings[0].account"));
    let huge = format!(r#"{{"memo":"{}","postings":[]}}"#, "x".repeat(1_100_000));
    post("b7", &huge).problem(413, "body_too_large", None);
    let many = format!(
        r#"{{"transactions":[{}]}}"#,
        vec![stipend("1.00"); 1001].join(",")
    );
    c.post("/v1/transactions/batch", Some("b8"), &many).problem(
        422,
        "batch_size",
        Some("transactions"),
    );
    let mixed = format!(
        r#"{{"transactions":[{},{}]}}"#,
        stipend("1.00"),
        stipend("1.005")
    );
    c.post("/v1/transactions/batch", Some("b9"), &mixed)
        .problem(
            422,
            "too_many_decimals",
            Some("transactions[1].postings[0].amount"),
        );
    let bad_state = format!(
        r#"{{"transactions":[{},{}]}}"#,
        stipend("1.00"),
        stipend("1.00")
            .replace("fund", "x")
            .replace("expense:c4t-stipend", "expense:none")
    );
    c.post("/v1/transactions/batch", Some("b10"), &bad_state)
        .problem(422, "unknown_account", Some("postings[0].account"));
    c.get("/v1/records?limit=1001")
        .problem(400, "limit_out_of_range", Some("limit"));
    c.get(&format!("/v1/proofs/inclusion?seq={before}&size={before}"))
        .problem(400, "seq_beyond_size", Some("seq"));
    c.get("/v1/proofs/inclusion?seq=0&size=0")
        .problem(400, "invalid_size", Some("size"));
    c.get(&format!("/v1/proofs/inclusion?seq=0&size={}", before + 5))
        .problem(400, "beyond_tree_size", Some("size"));
    c.get("/v1/proofs/consistency?size1=3&size2=2").problem(
        400,
        "sizes_out_of_order",
        Some("size1"),
    );
    let r = c.post("/v1/transactions", Some("b11"), &stipend("1.00"));
    assert_eq!(r.status, 201);
    let r = c.post(
        "/v1/accounts",
        Some("b12"),
        r#"{"name":"bank:operating","type":"asset"}"#,
    );
    r.problem(422, "account_exists", Some("name"));
    assert_eq!(size(&s), before + 1, "only the one valid write landed");
}

fn audit_endpoints_prove_what_was_written(s: TestServer) {
    let c = s.admin();
    open_accounts(&c);
    let anyone = Client::new(&s.url, "");
    let vkey = anyone.get("/v1/vkey").body;
    let verifier = NoteVerifier::parse(&vkey).expect("vkey");
    let cp1 = open_checkpoint(&anyone.get("/v1/checkpoint").body, &verifier)
        .expect("signed")
        .checkpoint;
    let seq = posted_seq(&c.post("/v1/transactions", Some("t1"), &stipend("60.00")));
    let note2 = anyone.get("/v1/checkpoint").body;
    let cp2 = open_checkpoint(&note2, &verifier)
        .expect("signed")
        .checkpoint;
    assert_eq!(cp2.size, seq + 1);

    let p = c
        .get(&format!("/v1/proofs/inclusion?seq={seq}&size={}", cp2.size))
        .json();
    let leaf = B64
        .decode(p["leaf_hash"].as_str().expect("leaf"))
        .expect("b64");
    let proof: Vec<Vec<u8>> = p["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| B64.decode(h.as_str().expect("str")).expect("b64"))
        .collect();
    verify_inclusion(seq, cp2.size, &leaf, &proof, &cp2.root).expect("inclusion verifies");

    let p = c
        .get(&format!(
            "/v1/proofs/consistency?size1={}&size2={}",
            cp1.size, cp2.size
        ))
        .json();
    let proof: Vec<Vec<u8>> = p["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| B64.decode(h.as_str().expect("str")).expect("b64"))
        .collect();
    verify_consistency(cp1.size, cp2.size, &proof, &cp1.root, &cp2.root).expect("consistent");

    // The exact record bytes, and the streamed export, verify against the checkpoint.
    let raw = c.get(&format!("/v1/records/{seq}")).body;
    assert_eq!(
        tranche_audit::merkle::leaf_hash(raw.as_bytes()).to_vec(),
        leaf
    );
    let export = c.get(&format!("/v1/export?size={}", cp2.size));
    assert_eq!(export.content_type, "application/x-ndjson");
    let mut v = Verifier::new(&verifier, &note2).expect("checkpoint");
    for line in export.body.lines() {
        v.push_line(line.as_bytes()).expect("valid record");
    }
    v.finish().expect("the export verifies");

    let receipt = c.get(&format!("/v1/receipts/{seq}"));
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    let verified = tranche_audit::receipt::verify_receipt(&receipt.body, &verifier)
        .expect("the receipt verifies");
    assert_eq!(verified.record.seq, seq);

    let page = c.get("/v1/records?from=0&limit=2").json();
    assert_eq!(page["records"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["next"], 2);
    let b = c.get("/v1/balances?prefix=payable").json();
    assert_eq!(b[0]["balance"], "-60.00");
    let t = c.get("/v1/transactions").json();
    assert_eq!(t["transactions"][0]["postings"][0]["amount"], "60.00");
    let r = c.post(
        &format!("/v1/transactions/{seq}/reverse"),
        Some("rev"),
        r#"{"memo":"duplicate"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    c.post(
        &format!("/v1/transactions/{seq}/reverse"),
        Some("rev2"),
        r#"{"reason":"again"}"#,
    )
    .problem(422, "already_reversed", Some("reverses"));
    let checkpoint = c.get("/v1/checkpoint").body;
    c.post(
        &format!("/v1/transactions/{seq}/reverse"),
        Some("rev3"),
        "{}",
    )
    .problem(422, "reason_required", Some("reason"));
    assert_eq!(
        c.get("/v1/checkpoint").body,
        checkpoint,
        "a refusal writes nothing"
    );

    assert_eq!(anyone.get("/healthz").status, 200);
    assert_eq!(anyone.get("/readyz").status, 200);
    let metrics = anyone.get("/metrics").body;
    assert!(metrics.contains("tranche_http_requests_total{method=\"POST\",route=\"/v1/transactions\",status=\"201\"}"), "{metrics}");
    assert!(
        metrics.contains(&format!("tranche_tree_size {}", size(&s))),
        "{metrics}"
    );
    assert!(metrics.contains("tranche_append_seconds_count"));
}

/// 32 clients post 200 transactions each, interleaved with reads and retries.
fn concurrent_clients_get_distinct_gapless_seqs(s: TestServer) {
    let c = s.admin();
    open_accounts(&c);
    let start = size(&s);
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..200 {
                    let key = format!("c{t}-{i}");
                    let amount = format!("{}.{:02}", 1 + t, i % 100);
                    let r = c.post("/v1/transactions", Some(&key), &stipend(&amount));
                    seqs.push(posted_seq(&r));
                    if i % 25 == 0 {
                        // A retry writes nothing and answers the same seq.
                        let again = c.post("/v1/transactions", Some(&key), &stipend(&amount));
                        assert!(again.replayed);
                        assert_eq!(posted_seq(&again), *seqs.last().expect("seq"));
                        assert_eq!(c.get("/v1/balances?prefix=payable").status, 200);
                    }
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (start..start + 6400).collect::<Vec<_>>(),
        "distinct and gapless"
    );
    assert_eq!(size(&s), start + 6400);
    let expected_minor: i64 = (0..32)
        .flat_map(|t| (0..200).map(move |i| (1 + t) * 100 + i % 100))
        .sum();
    let b = s
        .block_on(s.ledger.store().balances("payable"))
        .expect("balances");
    assert_eq!(b[0].credit_minor, expected_minor);
    let auditor = s.client(&c.add_user("auditor", "auditor", None));
    let note = Client::new(&s.url, "").get("/v1/checkpoint").body;
    let verifier =
        NoteVerifier::parse(&Client::new(&s.url, "").get("/v1/vkey").body).expect("vkey");
    let cp = open_checkpoint(&note, &verifier)
        .expect("signed")
        .checkpoint;
    let export = auditor.get(&format!("/v1/export?size={}", cp.size));
    let mut v = Verifier::new(&verifier, &note).expect("checkpoint");
    for line in export.body.lines() {
        v.push_line(line.as_bytes()).expect("valid");
    }
    v.finish().expect("the verifier accepts the export");
}

server_on_both_backends!(
    role_matrix_holds_for_every_route,
    the_last_active_admin_cannot_be_revoked,
    every_refusal_is_a_problem_document_and_nothing_is_cached,
    the_openapi_document_lists_every_route_and_nothing_else,
    writes_are_idempotent_per_key,
    bad_input_is_a_problem_naming_the_field_and_writes_nothing,
    audit_endpoints_prove_what_was_written,
    concurrent_clients_get_distinct_gapless_seqs,
);

#[test]
fn two_servers_on_one_postgres_database_never_fork_the_chain() {
    let Some(a) = TestServer::start(tranche_tests::Backend::Postgres) else {
        return;
    };
    let b = a.second();
    open_accounts(&a.admin());
    let start = size(&a);
    let threads: Vec<_> = [a.admin(), b.admin()]
        .into_iter()
        .enumerate()
        .flat_map(|(n, c)| {
            (0..4).map(move |t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            posted_seq(&c.post(
                                "/v1/transactions",
                                Some(&format!("s{n}-{t}-{i}")),
                                &stipend("1.00"),
                            ))
                        })
                        .collect::<Vec<_>>()
                })
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (start..start + 400).collect::<Vec<_>>());
    let report = a
        .block_on(tranche_ledger::store::rebuild::check(
            a.ledger.store(),
            a.ledger.verifier(),
            |_, _| {},
        ))
        .expect("check");
    assert!(report.is_clean(), "{:?}", report.differences);
}
