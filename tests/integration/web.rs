//! The web interface's sessions and CSRF over plain HTTP, on both backends: sign-in with a token,
//! the cookie's attributes, forms refused without their CSRF token or from another site (nothing
//! written), roles kept to their pages, and sessions that end on sign-out, on revocation and
//! when they expire.

use tranche_tests::{server_on_both_backends, TestServer};

/// A browser without JavaScript: one cookie jar, redirects not followed.
struct Browser {
    agent: ureq::Agent,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

struct Page {
    status: u16,
    location: String,
    set_cookies: Vec<String>,
    body: String,
}

impl Browser {
    fn new(base: &str) -> Browser {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        Browser {
            agent: config.into(),
            base: base.to_string(),
            cookies: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn finish(&mut self, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
        let mut r = r.expect("the server answers");
        let set_cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for c in &set_cookies {
            if let Some((kv, _)) = c.split_once(';') {
                if let Some((k, v)) = kv.split_once('=') {
                    if v.is_empty() {
                        self.cookies.remove(k);
                    } else {
                        self.cookies.insert(k.to_string(), v.to_string());
                    }
                }
            }
        }
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().expect("body");
        Page {
            status,
            location,
            set_cookies,
            body,
        }
    }

    fn get(&mut self, path: &str) -> Page {
        let req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header());
        let r = req.call();
        self.finish(r)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", self.cookie_header());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send(body);
        self.finish(r)
    }

    fn sign_in(&mut self, token: &str, headers: &[(&str, &str)]) -> Page {
        let form = self.get("/web/login");
        assert_eq!(form.status, 200);
        let csrf = hidden(&form.body, "csrf");
        self.post(
            "/web/login",
            &[("token", token), ("csrf", &csrf), ("next", "")],
            headers,
        )
    }

    /// The CSRF token of the signed-in page (every page carries it in the sign-out form).
    fn csrf(&mut self) -> String {
        let p = self.get("/web/finance");
        hidden(&p.body, "csrf")
    }
}

fn enc(t: &str) -> String {
    t.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} field in {html}"));
    let rest = &html[at + needle.len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

fn size(s: &TestServer) -> u64 {
    s.block_on(s.ledger.store().tree_size()).expect("tree size")
}

fn sessions_sign_in_and_out_and_forms_need_their_csrf_token(s: TestServer) {
    let admin = s.admin();
    let ana = admin.add_user("ana", "preparer", None);
    let beto = admin.add_user("beto", "approver", None);
    let dora = admin.add_user("dora", "donor", None);
    let mut b = Browser::new(&s.url);

    // Signed out: to the sign-in page, remembering where the user was going.
    let p = b.get("/web/finance/batches");
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/web/login?next=%2Fweb%2Ffinance%2Fbatches")
    );
    // A wrong token, and a sign-in form posted without its CSRF cookie, are refused.
    let p = b.sign_in("tr_wrong", &[]);
    assert_eq!(p.status, 401);
    assert!(p.body.contains("unknown or revoked token") && p.body.contains("f-token-error"));
    let mut stranger = Browser::new(&s.url);
    let p = stranger.post("/web/login", &[("token", &ana), ("csrf", "x")], &[]);
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(!stranger.cookies.contains_key("tranche_session"));

    // Signed in: an HttpOnly, SameSite=Strict cookie, Secure only over TLS.
    let p = b.sign_in(&ana, &[]);
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/web/"),
        "{}",
        p.body
    );
    let cookie = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("tranche_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let mut tls = Browser::new(&s.url);
    let p = tls.sign_in(&ana, &[("X-Forwarded-Proto", "https")]);
    assert!(
        p.set_cookies
            .iter()
            .any(|c| c.starts_with("tranche_session=") && c.contains("; Secure")),
        "{:?}",
        p.set_cookies
    );
    let p = b.get("/web/");
    assert_eq!((p.status, p.location.as_str()), (303, "/web/finance"));
    assert_eq!(b.get("/web/finance").status, 200);

    // Forms: refused without the CSRF token, with another session's, or from another site,
    // and nothing written; with it, the API's error shown next to the field.
    let csrf = b.csrf();
    let before = size(&s);
    let form = [
        ("award", "no-such-award"),
        ("period", "2026-03"),
        ("idem", "cycle-form-key-0001"),
    ];
    let p = b.post("/web/finance/cycles", &form, &[]);
    assert_eq!(p.status, 403);
    assert!(p.body.contains("CSRF"), "{}", p.body);
    let other = tls.csrf();
    let mut with_other = form.to_vec();
    with_other.push(("csrf", &other));
    assert_eq!(b.post("/web/finance/cycles", &with_other, &[]).status, 403);
    let mut with_csrf = form.to_vec();
    with_csrf.push(("csrf", &csrf));
    let p = b.post(
        "/web/finance/cycles",
        &with_csrf,
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(p.status, 403);
    assert!(p.body.contains("another site"), "{}", p.body);
    assert_eq!(size(&s), before, "a refused form wrote a record");
    // A form without its idempotency key is refused too (it could not be retried safely).
    let no_key: Vec<_> = with_csrf
        .iter()
        .filter(|(k, _)| *k != "idem")
        .cloned()
        .collect();
    let p = b.post("/web/finance/cycles", &no_key, &[]);
    assert_eq!(p.status, 400);
    assert!(p.body.contains("idempotency key"), "{}", p.body);
    let p = b.post("/web/finance/cycles", &with_csrf, &[]);
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("f-award-error") && p.body.contains("unknown_award"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("value=\"2026-03\""),
        "what the user typed is kept"
    );
    assert_eq!(size(&s), before);

    // Roles keep to their pages: a donor sees no finance page and no participant.
    let mut donor = Browser::new(&s.url);
    donor.sign_in(&dora, &[]);
    let p = donor.get("/web/");
    assert_eq!(p.location, "/web/donor");
    for page in [
        "/web/finance",
        "/web/finance/participants/p-abc",
        "/web/audit",
        "/web/partner",
    ] {
        let p = donor.get(page);
        assert_eq!(p.status, 403, "{page}");
        assert!(
            p.body.contains("may not open this page"),
            "{page}: {}",
            p.body
        );
    }
    assert_eq!(donor.get("/web/donor").status, 200);
    for report in ["budget", "payments", "bank", "participant"] {
        let p = donor.get(&format!("/web/reports/{report}?award=a&quarter=2026Q1"));
        assert_eq!(p.status, 403, "{report}");
    }
    // A form posted by a role that may not is refused, even with its own valid CSRF token.
    let donor_csrf = hidden(&donor.get("/web/donor").body, "csrf");
    let p = donor.post(
        "/web/finance/batches",
        &[
            ("award", "a"),
            ("csrf", &donor_csrf),
            ("idem", "donor-form-key-0001"),
        ],
        &[],
    );
    assert_eq!(p.status, 403, "{}", p.body);
    assert_eq!(size(&s), before);
    // A sign-in never sends the browser to another site.
    let form = donor.get("/web/login?next=https://evil.example/");
    assert_eq!(form.status, 303);
    assert_eq!(form.location, "/web/");

    // A session ends when it expires, when its user is revoked, and on sign-out.
    let mut approver = Browser::new(&s.url);
    approver.sign_in(&beto, &[]);
    assert_eq!(approver.get("/web/finance").status, 200);
    let r = admin.post("/v1/users/beto/revoke", Some("revoke-beto"), "");
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(approver.get("/web/finance").status, 303);
    s.block_on(s.ledger.store().execute_raw(&format!(
        "UPDATE web_sessions SET expires_at = {} WHERE user_name = 'dora'",
        chrono::Utc::now().timestamp() - 1
    )))
    .expect("expire the donor's session");
    assert_eq!(donor.get("/web/donor").status, 303);
    let csrf = b.csrf();
    let session = b.cookies["tranche_session"].clone();
    let p = b.post("/web/logout", &[("csrf", &csrf)], &[]);
    assert_eq!((p.status, p.location.as_str()), (303, "/web/login"));
    assert!(!b.cookies.contains_key("tranche_session"));
    // The old cookie, replayed, no longer opens anything.
    b.cookies.insert("tranche_session".into(), session);
    assert_eq!(b.get("/web/finance").status, 303);
    assert_eq!(size(&s), before);
}

/// Every page of the role matrix, as every role and signed out: a page a role may not open is
/// 403 (nothing read, nothing written), one it may is never 401 or 403, and signed out every
/// page but the public ones sends to the sign-in page. A batch action is also held to the rule
/// of its API route (sending: approvers and admins only).
fn every_page_keeps_to_the_role_matrix(s: TestServer) {
    use tranche_api::server::access::{self, Access};
    use tranche_api::server::auth::Role;
    let admin = s.admin();
    let mut browsers: Vec<(Role, Browser)> = Vec::new();
    for role in Role::ALL {
        let token = if role == Role::Admin {
            s.admin.clone()
        } else {
            let partner = (role == Role::Partner).then_some("hias");
            admin.add_user(&format!("w-{}", role.as_str()), role.as_str(), partner)
        };
        let mut b = Browser::new(&s.url);
        assert_eq!(
            b.sign_in(&token, &[]).status,
            303,
            "{} signs in",
            role.as_str()
        );
        browsers.push((role, b));
    }
    let before = size(&s);
    for page in access::PAGES {
        let (method, path) = (page.method, page.path);
        if path == "/web/logout" || path == "/web/login" {
            continue; // exercised by the sessions test
        }
        // A batch or period action is one page per action, each also under its API route's
        // rule.
        let (actions, api_route): (Vec<Option<&str>>, &str) = if path.contains("/periods/") {
            (
                vec![Some("close"), Some("reopen")],
                "/v1/awards/{award}/periods/{quarter}/",
            )
        } else if path.contains("{action}") {
            (
                ["submit", "approve", "reject", "cancel", "files", "send"]
                    .into_iter()
                    .map(Some)
                    .collect(),
                "/v1/batches/{batch}/",
            )
        } else {
            (vec![None], "")
        };
        for action in actions {
            let concrete = path
                .replace("{award}", "nobody")
                .replace("{batch}", "nobody")
                .replace("{action}", action.unwrap_or(""))
                .replace("{format}", "csv")
                .replace("{sha}", &"0".repeat(64))
                .replace("{participant}", "nobody")
                .replace("{kind}", "sf425")
                .replace("{quarter}", "2026Q1")
                .replace("{seq}", "0");
            let api = action.and_then(|a| access::of("POST", &format!("{api_route}{a}")));
            let mut signed_out = Browser::new(&s.url);
            let p = if method == "GET" {
                signed_out.get(&concrete)
            } else {
                signed_out.post(&concrete, &[], &[])
            };
            match page.access {
                Access::Public => assert!(
                    p.status < 400,
                    "{method} {concrete} is public: {}",
                    p.status
                ),
                Access::Roles(_) => assert!(
                    p.status == 303 && p.location.starts_with("/web/login")
                        || (method == "POST" && p.status == 403),
                    "{method} {concrete} signed out: {} {}",
                    p.status,
                    p.location
                ),
            }
            for (role, b) in browsers.iter_mut() {
                let may = page.access.allows(Some(*role))
                    && api.is_none_or(|e| e.access.allows(Some(*role)));
                let p = if method == "GET" {
                    b.get(&concrete)
                } else {
                    let csrf = b.csrf();
                    b.post(
                        &concrete,
                        &[("csrf", &csrf), ("idem", "matrix-0123456789abcdef")],
                        &[],
                    )
                };
                if may {
                    assert!(
                        p.status != 401 && p.status != 403,
                        "{} may {method} {concrete}: {} {}",
                        role.as_str(),
                        p.status,
                        p.body
                    );
                } else {
                    assert_eq!(
                        p.status,
                        403,
                        "{} may not {method} {concrete}: {}",
                        role.as_str(),
                        p.body
                    );
                }
            }
        }
    }
    assert_eq!(size(&s), before, "no page wrote anything");
}

/// An approver closes a quarter from the award's page, and asks to reopen it.
fn a_quarter_is_closed_from_the_award_page(s: TestServer) {
    let (scn, _) = super::programme::setup(s);
    let award = super::programme::AWARD;
    let token = scn.admin.add_user("carla", "approver", None);
    let mut b = Browser::new(&scn.s.url);
    assert_eq!(b.sign_in(&token, &[]).status, 303);
    let page = format!("/web/finance/awards/{award}");
    let p = b.get(&page);
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("Close 2026Q1"), "{}", p.body);
    let csrf = b.csrf();
    let before = scn.size();
    let p = b.post(
        &format!("{page}/periods/2026Q1/close"),
        &[
            ("csrf", &csrf),
            ("idem", "close-0123456789abcdef"),
            ("indirect_rate", "0.10"),
        ],
        &[],
    );
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, format!("{page}?done=close").as_str()),
        "{}",
        p.body
    );
    assert_eq!(scn.size(), before + 1, "one period.close");
    let p = b.get(&format!("{page}?done=close"));
    assert!(
        p.body.contains("The quarter is closed") && p.body.contains("Ask to reopen 2026Q1"),
        "{}",
        p.body
    );
    // The same form again (a double click) closes nothing more.
    let p = b.post(
        &format!("{page}/periods/2026Q1/close"),
        &[
            ("csrf", &csrf),
            ("idem", "close-0123456789abcdef"),
            ("indirect_rate", "0.10"),
        ],
        &[],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(scn.size(), before + 1, "a replay writes nothing");
    let p = b.post(
        &format!("{page}/periods/2026Q1/reopen"),
        &[
            ("csrf", &csrf),
            ("idem", "reopen-0123456789abcdef"),
            ("reason", "corrected statement"),
        ],
        &[],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    let p = b.get(&page);
    assert!(p.body.contains("reopen requested"), "{}", p.body);
}

server_on_both_backends!(
    sessions_sign_in_and_out_and_forms_need_their_csrf_token,
    every_page_keeps_to_the_role_matrix,
    a_quarter_is_closed_from_the_award_page
);
