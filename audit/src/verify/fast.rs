//! A one-pass reader of the canonical bytes of the record shapes format version 1 defines.
//!
//! It matches each line against the exact canonical layout (keys in RFC 8785 order, no
//! whitespace) and accepts only what it can judge with certainty: strings without escapes or
//! control characters, integers of at most 15 digits (exact in an IEEE double, so written the
//! same by every RFC 8785 serializer), times in the one form `record::format_time` writes, and
//! a body whose shape matches the record's kind (for `evidence`, a body that also passes every
//! stateless check of its type, so that no failure of it is reported here). Anything else
//! returns `None` and goes to the generic decoder, which decides and reports. So this module
//! can only make verification faster, never more lenient: what it accepts, the generic decoder
//! accepts with the same values (the property tests in `verify::tests` and
//! `verify::evidence_tests` check exactly that).

use std::borrow::Cow;

use chrono::NaiveDate;

use super::programme::{EvidenceView, SignedEvidence};
use super::{Body, PostingView, View};
use crate::account::AccountType;
use crate::merkle::Hash;
use crate::posting::Side;
use crate::programme::{
    is_submitted_at, lowercase_hex, signature_from_base64, Id, MAX_STATEMENT_ITEMS,
};
use crate::record::kind;

/// The largest integer this reader accepts has 15 digits: below 2^53, so exact as a double.
const MAX_INT_DIGITS: usize = 15;

/// Reads `line` if it is a canonical record of a ledger kind (`ledger.key`, `account.open`,
/// `account.close`, `transaction`) with a well-formed body.
pub(super) fn parse(line: &[u8]) -> Option<View<'_>> {
    read(line, false)
}

/// Reads `line` if it is a canonical `evidence` record whose body passes every stateless check
/// of `EvidenceBody::check`: the verifier then has only the journal's rules and the signature
/// left to check. The statement's bytes in the line are its canonical encoding (RFC 8785 is
/// compositional), so they are the message the partner signed, after the domain string.
pub(super) fn parse_evidence(line: &[u8]) -> Option<View<'_>> {
    read(line, true)
}

fn read(line: &[u8], evidence: bool) -> Option<View<'_>> {
    // Validating the whole line once is cheaper than each string; every string then starts and
    // ends at an ASCII '"', so slicing the text there always falls on character boundaries.
    let text = std::str::from_utf8(line).ok()?;
    let mut p = Cursor {
        s: text,
        b: line,
        i: 0,
    };
    p.lit(b"{\"actor\":")?;
    let actor = p.string()?;
    p.lit(b",\"at\":")?;
    let at = p.string()?;
    p.lit(b",\"body\":")?;
    let body = if evidence {
        p.lit(b"{\"key_id\":")?;
        p.evidence()?
    } else {
        p.body()?
    };
    p.lit(b",\"kind\":")?;
    let kind = p.string()?;
    p.lit(b",\"prev\":\"")?;
    let prev = p.hex32()?;
    p.lit(b"\",\"seq\":")?;
    let seq = p.uint()?;
    p.lit(b",\"v\":1}")?;
    if p.i != line.len() || actor.is_empty() || !is_record_time(at) {
        return None;
    }
    let shape_matches = matches!(
        (&body, kind),
        (Body::LedgerKey { .. }, kind::LEDGER_KEY)
            | (Body::AccountOpen { .. }, kind::ACCOUNT_OPEN)
            | (Body::AccountClose { .. }, kind::ACCOUNT_CLOSE)
            | (Body::Transaction { .. }, kind::TRANSACTION)
            | (Body::Evidence(_), kind::EVIDENCE)
    );
    if !shape_matches {
        return None;
    }
    Some(View {
        seq,
        prev,
        kind: Cow::Borrowed(kind),
        at: Cow::Borrowed(at),
        actor: Cow::Borrowed(actor),
        body,
    })
}

/// True for exactly `YYYY-MM-DDTHH:MM:SS.ffffffZ` naming a real instant (no leap second). Years
/// before 1900 are left to the generic decoder.
fn is_record_time(at: &str) -> bool {
    let b = at.as_bytes();
    if b.len() != 27 {
        return false;
    }
    const LAYOUT: &[u8; 27] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (&c, &l) in b.iter().zip(LAYOUT) {
        let ok = if l == b'd' {
            c.is_ascii_digit()
        } else {
            c == l
        };
        if !ok {
            return false;
        }
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let (hour, minute, second) = (num(11..13), num(14..16), num(17..19));
    year >= 1900
        && hour <= 23
        && minute <= 59
        && second <= 59
        && NaiveDate::from_ymd_opt(year as i32, month, day).is_some()
}

/// True for `YYYY-MM-DD` naming a real day of a year from 1000 on: a subset of what
/// `programme::Date::parse` accepts (the other years are left to the generic decoder).
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    let layout_ok = b.len() == 10
        && b.iter().zip(b"dddd-dd-dd").all(|(&c, &l)| {
            if l == b'd' {
                c.is_ascii_digit()
            } else {
                c == l
            }
        });
    if !layout_ok {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let year = num(0..4);
    year >= 1000 && NaiveDate::from_ymd_opt(year as i32, num(5..7), num(8..10)).is_some()
}

struct Cursor<'a> {
    s: &'a str,
    /// `s` as bytes.
    b: &'a [u8],
    i: usize,
}

/// Hex digit values; 0xff marks a byte that is not a lowercase hex digit.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

impl<'a> Cursor<'a> {
    #[inline]
    fn lit(&mut self, s: &[u8]) -> Option<()> {
        self.eat(s).then_some(())
    }

    #[inline]
    fn eat(&mut self, s: &[u8]) -> bool {
        let end = self.i + s.len();
        if self.b.get(self.i..end) == Some(s) {
            self.i = end;
            true
        } else {
            false
        }
    }

    /// A JSON string with no escape and no control character: its canonical form is its
    /// content, verbatim. Anything else is left to the generic decoder.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.lit(b"\"")?;
        let start = self.i;
        let rest = &self.b[start..];
        let len = plain_prefix_len(rest);
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.i = start + len + 1;
        self.s.get(start..start + len)
    }

    /// A non-negative integer in canonical form (no sign, no leading zero), at most 15 digits.
    #[inline]
    fn uint(&mut self) -> Option<u64> {
        let start = self.i;
        let rest = &self.b[start..];
        let len = rest.iter().take_while(|d| d.is_ascii_digit()).count();
        if len == 0 || len > MAX_INT_DIGITS || (len > 1 && rest[0] == b'0') {
            return None;
        }
        self.i = start + len;
        Some(
            rest[..len]
                .iter()
                .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
        )
    }

    /// 64 lowercase hex digits.
    #[inline]
    fn hex32(&mut self) -> Option<Hash> {
        let digits = self.b.get(self.i..self.i + 64)?;
        let mut out = [0u8; 32];
        // Any non-digit maps to 0xff, whose high bits survive the OR: one test at the end.
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (hi, lo) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
            bad |= hi | lo;
            *o = hi << 4 | (lo & 0x0f);
        }
        if bad & 0xf0 != 0 {
            return None;
        }
        self.i += 64;
        Some(out)
    }

    /// The body, recognised by its first key; the caller checks it agrees with `kind`.
    fn body(&mut self) -> Option<Body<'a>> {
        self.lit(b"{\"")?;
        if self.eat(b"accounting_date\":") {
            // A date the reference decoder would refuse is left to it.
            let accounting_date = self
                .string()
                .filter(|d| crate::programme::Date::parse(d).is_ok())?;
            self.lit(b",\"memo\":")?;
            let memo = self.string()?;
            self.lit(b",\"postings\":[")?;
            let mut postings = Vec::with_capacity(2);
            if !self.eat(b"]") {
                loop {
                    postings.push(self.posting()?);
                    if self.eat(b"]") {
                        break;
                    }
                    self.lit(b",")?;
                }
            }
            let prior_period = if self.eat(b",\"prior_period\":") {
                Some(crate::period::Quarter::parse(self.string()?).ok()?)
            } else {
                None
            };
            let reverses = if self.eat(b",\"reverses\":") {
                Some(self.uint()?)
            } else {
                None
            };
            self.lit(b"}")?;
            return Some(Body::Transaction {
                accounting_date: Cow::Borrowed(accounting_date),
                memo: Cow::Borrowed(memo),
                postings,
                prior_period,
                reverses,
            });
        }
        if self.eat(b"origin\":") {
            let origin = self.string()?;
            self.lit(b",\"vkey\":")?;
            let vkey = self.string()?;
            self.lit(b"}")?;
            return Some(Body::LedgerKey {
                origin: Cow::Borrowed(origin),
                vkey: Cow::Borrowed(vkey),
            });
        }
        let description = if self.eat(b"description\":") {
            let d = self.string()?;
            self.lit(b",\"")?;
            Some(Cow::Borrowed(d))
        } else {
            None
        };
        self.lit(b"name\":")?;
        let name = Cow::Borrowed(self.string()?);
        if description.is_none() && self.eat(b"}") {
            return Some(Body::AccountClose { name });
        }
        self.lit(b",\"type\":")?;
        let account_type = match self.string()? {
            "asset" => AccountType::Asset,
            "liability" => AccountType::Liability,
            "equity" => AccountType::Equity,
            "income" => AccountType::Income,
            "expense" => AccountType::Expense,
            "memo" => AccountType::Memo,
            _ => return None,
        };
        self.lit(b"}")?;
        Some(Body::AccountOpen {
            name,
            account_type,
            description,
        })
    }

    /// The rest of an `evidence` body after `{"key_id":`, only if it passes every stateless
    /// check of `EvidenceBody::check` (the reference decoder reports any that fails).
    fn evidence(&mut self) -> Option<Body<'a>> {
        let key_id = self.string()?;
        self.lit(b",\"signature\":")?;
        let signature = self.string()?;
        self.lit(b",\"statement\":")?;
        let start = self.i;
        self.lit(b"{\"batch_id\":")?;
        let batch_id = self.string()?;
        self.lit(b",\"items\":[")?;
        let mut items = 0usize;
        loop {
            self.item()?;
            items += 1;
            if items > MAX_STATEMENT_ITEMS {
                return None;
            }
            if self.eat(b"]") {
                break;
            }
            self.lit(b",")?;
        }
        self.lit(b",\"partner\":")?;
        let partner = self.string()?;
        self.lit(b",\"submitted_at\":")?;
        let submitted_at = self.string()?;
        self.lit(b"}")?;
        let statement = self.s.get(start..self.i)?;
        self.lit(b"}")?;
        let valid = Id::is_valid(partner)
            && Id::is_valid(batch_id)
            && is_submitted_at(submitted_at)
            && lowercase_hex(key_id, 8);
        if !valid {
            return None;
        }
        Some(Body::Evidence(SignedEvidence {
            view: EvidenceView {
                partner,
                batch_id,
                items: items as u64,
                key_id,
            },
            statement,
            signature: signature_from_base64(signature)?,
        }))
    }

    /// One evidence item, in the canonical layout of its type, that passes the item's checks.
    fn item(&mut self) -> Option<()> {
        self.lit(b"{")?;
        let mut members = [("", ""); 5];
        let mut n = 0;
        loop {
            let key = self.string()?;
            self.lit(b":")?;
            members[n] = (key, self.string()?);
            n += 1;
            if self.eat(b"}") {
                break;
            }
            if n == members.len() {
                return None;
            }
            self.lit(b",")?;
        }
        let id = |t: &str| Id::is_valid(t);
        let outcome = |t: &str| matches!(t, "passed" | "failed");
        let valid = match members[..n] {
            [("participant", p), ("session", s), ("status", "present" | "absent"), ("type", "attendance" | "attendance-correction")] => {
                id(p) && id(s)
            }
            [("cohort", c), ("date", d), ("participant", p), ("type", "enrolment")] => {
                id(c) && is_date(d) && id(p)
            }
            [("course", c), ("date", d), ("participant", p), ("result", r), ("type", "certification")] => {
                id(c) && is_date(d) && id(p) && outcome(r)
            }
            [("date", d), ("milestone", "plan-approved" | "tranche-1" | "tranche-2"), ("participant", p), ("result", r), ("type", "milestone")] => {
                is_date(d) && id(p) && outcome(r)
            }
            _ => false,
        };
        valid.then_some(())
    }

    fn posting(&mut self) -> Option<PostingView<'a>> {
        self.lit(b"{\"account\":")?;
        let account = self.string()?;
        self.lit(b",\"amount\":")?;
        let amount = self.string()?;
        self.lit(b",\"currency\":")?;
        let currency = self.string()?;
        self.lit(b",\"side\":")?;
        let side = match self.string()? {
            "debit" => Side::Debit,
            "credit" => Side::Credit,
            _ => return None,
        };
        self.lit(b"}")?;
        Some(PostingView {
            account: Cow::Borrowed(account),
            currency: Cow::Borrowed(currency),
            side,
            amount: Cow::Borrowed(amount),
        })
    }
}

/// The length of the longest prefix of `s` free of `"`, `\` and control characters (< 0x20),
/// eight bytes at a time.
#[inline]
fn plain_prefix_len(s: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let special = |c: u8| c < 0x20 || c == b'"' || c == b'\\';
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("the chunk has eight bytes"));
        // A byte is flagged when it is below 0x20 or equals '"' or '\'. The classic zero-byte
        // test may also flag a byte next to a real match, never miss one, so a flagged word is
        // re-scanned byte by byte.
        let below = w.wrapping_sub(LO * 0x20) & !w;
        let quote = w ^ (LO * u64::from(b'"'));
        let slash = w ^ (LO * u64::from(b'\\'));
        let is_zero = |x: u64| x.wrapping_sub(LO) & !x;
        if (below | is_zero(quote) | is_zero(slash)) & HI != 0 {
            break;
        }
        i += 8;
    }
    i + s[i..].iter().take_while(|&&c| !special(c)).count()
}
