//! The programme records in the streaming verifier: awards, partners and their keys, cohorts,
//! sessions, participants, partner-signed evidence, rule versions and cycle runs (entitlements
//! are checked as transactions by the verifier itself, with [`Programme::check_entitlement`]
//! for what they add).
//!
//! Every body must deserialize into its `programme` type and pass that type's stateless check.
//! On top of that the verifier keeps what an auditor needs to re-check the signed evidence
//! offline: the currency of each award, the registered partners, every partner key with the
//! seq it was revoked at, and the batch ids each partner has used. All of it grows with the
//! number of awards, partners, keys and evidence batches, never with the number of transactions.
//! The programme rules that need more of the journal (enrolments, attendance, caps and budgets)
//! are the ledger's; the verifier does not re-derive them.

use std::collections::{HashMap, HashSet};

use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{rule, Failure};
use crate::codes::Code;
use crate::invalid::Invalid;
use crate::money::Currency;
use crate::period::{PeriodCloseBody, PeriodReopenBody, Periods};
use crate::programme::{
    bad_signature, AwardOpenBody, CohortOpenBody, CycleRunBody, EntitlementBody, EvidenceBody, Id,
    KeyAction, ParticipantRegisterBody, PartnerKeyBody, PartnerRegisterBody, RuleVersionBody,
    SessionScheduleBody, EVIDENCE_DOMAIN,
};
use crate::record::{body_from_value, kind};

/// The typed body of a programme record, other than `entitlement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ProgrammeBody {
    AwardOpen(AwardOpenBody),
    PartnerRegister(PartnerRegisterBody),
    PartnerKey(PartnerKeyBody),
    CohortOpen(CohortOpenBody),
    SessionSchedule(SessionScheduleBody),
    ParticipantRegister(ParticipantRegisterBody),
    Evidence(EvidenceBody),
    RuleVersion(RuleVersionBody),
    CycleRun(CycleRunBody),
    PeriodClose(PeriodCloseBody),
    PeriodReopen(PeriodReopenBody),
}

/// The typed body of a programme record of kind `kind`; `None` when `kind` is not one of them
/// (`entitlement` included, which the caller decodes as a transaction).
pub(super) fn decode(kind: &str, body: &Value) -> Option<Result<ProgrammeBody, Invalid>> {
    fn typed<T: DeserializeOwned>(
        body: &Value,
        wrap: fn(T) -> ProgrammeBody,
    ) -> Result<ProgrammeBody, Invalid> {
        body_from_value::<T>(body).map(wrap)
    }
    Some(match kind {
        kind::AWARD_OPEN => typed(body, ProgrammeBody::AwardOpen),
        kind::PARTNER_REGISTER => typed(body, ProgrammeBody::PartnerRegister),
        kind::PARTNER_KEY => typed(body, ProgrammeBody::PartnerKey),
        kind::COHORT_OPEN => typed(body, ProgrammeBody::CohortOpen),
        kind::SESSION_SCHEDULE => typed(body, ProgrammeBody::SessionSchedule),
        kind::PARTICIPANT_REGISTER => typed(body, ProgrammeBody::ParticipantRegister),
        kind::EVIDENCE => typed(body, ProgrammeBody::Evidence),
        kind::RULE_VERSION => typed(body, ProgrammeBody::RuleVersion),
        kind::CYCLE_RUN => typed(body, ProgrammeBody::CycleRun),
        kind::PERIOD_CLOSE => typed(body, ProgrammeBody::PeriodClose),
        kind::PERIOD_REOPEN => typed(body, ProgrammeBody::PeriodReopen),
        _ => return None,
    })
}

/// What the stateful rules of `evidence` read of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EvidenceView<'a> {
    pub(super) partner: &'a str,
    pub(super) batch_id: &'a str,
    /// The number of items in the statement.
    pub(super) items: u64,
    pub(super) key_id: &'a str,
}

/// An `evidence` body read by the fast decoder, borrowed from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SignedEvidence<'a> {
    pub(super) view: EvidenceView<'a>,
    /// The statement member's value, verbatim: its canonical bytes.
    pub(super) statement: &'a str,
    pub(super) signature: [u8; 64],
}

/// One partner key as the journal registered it.
#[derive(Debug)]
struct PartnerKey {
    partner: Id,
    key: VerifyingKey,
    /// The seq of the `partner.key` record that revoked it (a revocation or a rotation).
    revoked_at: Option<u64>,
}

/// What the verifier keeps of the programme records.
#[derive(Debug, Default)]
pub(super) struct Programme {
    /// The currency of every award opened.
    awards: HashMap<Id, Currency>,
    /// Every award's opening body and closed quarters: what the rules of accounting dates read.
    dated: HashMap<Id, (AwardOpenBody, Periods)>,
    /// Every `period.close` in force (not followed by the reopening of its quarter), in
    /// journal order: the SF-425 each names is recomputed from the export at the end.
    pub(super) closes: Vec<(u64, PeriodCloseBody)>,
    partners: HashSet<Id>,
    /// Every partner key ever registered, by key id: a key id names one key of one partner
    /// for the whole journal, revoked or not.
    keys: HashMap<String, PartnerKey>,
    /// The batch ids each partner has used, as `partner \0 batch id` (ids hold no NUL): one
    /// allocation per evidence record, the only state that grows with them.
    batches: HashSet<Box<[u8]>>,
    /// The buffer the signed message of a statement is assembled in.
    message: Vec<u8>,
    pub(super) evidence_statements: u64,
    pub(super) evidence_items: u64,
    /// Keys registered (by `register` or `rotate`).
    pub(super) partner_keys: u64,
    pub(super) entitlements: u64,
}

/// A stateless check's failure, placed in the record's body.
fn in_body(seq: u64) -> impl Fn(Invalid) -> Failure {
    move |e| Failure::invalid(seq, &e.within("body"))
}

impl Programme {
    /// The currency of an award opened so far.
    pub(super) fn award_currency(&self, award: &Id) -> Option<Currency> {
        self.awards.get(award).copied()
    }

    /// An award's opening body and closed quarters.
    pub(super) fn dated(&self, award: &str) -> Option<(&AwardOpenBody, &Periods)> {
        self.dated.get(award).map(|(a, p)| (a, p))
    }

    /// Checks one programme record at `seq`, written at `at` by `actor`, and records what
    /// later records depend on.
    pub(super) fn check(
        &mut self,
        seq: u64,
        at: &str,
        actor: &str,
        body: &ProgrammeBody,
    ) -> Result<(), Failure> {
        let invalid = in_body(seq);
        match body {
            ProgrammeBody::AwardOpen(b) => {
                b.check().map_err(&invalid)?;
                let currency = b.currency().map_err(&invalid)?;
                if self.awards.contains_key(&b.award) {
                    return Err(Failure::at(
                        seq,
                        rule::AWARD_OPENED_TWICE,
                        format!("body.award: award {} was already opened", b.award),
                    ));
                }
                self.awards.insert(b.award.clone(), currency);
                self.dated
                    .insert(b.award.clone(), (b.clone(), Periods::default()));
            }
            ProgrammeBody::PeriodClose(b) => {
                self.award(seq, &b.award, "body.award")?;
                if b.checkpoint.size > seq {
                    return Err(Failure::invalid(
                        seq,
                        &Invalid::new(
                            "body.checkpoint.size",
                            Code::InvalidField,
                            format!(
                                "a period is closed at a checkpoint before it (size {} > seq {seq})",
                                b.checkpoint.size
                            ),
                        ),
                    ));
                }
                let (award, periods) = self.dated.get_mut(&b.award).expect("opened");
                let at = crate::record::parse_time(at).unwrap_or_default();
                let today = crate::period::local_date(Some(award), at);
                periods.check_close(award, b, today).map_err(&invalid)?;
                periods.close(b.quarter, seq);
                self.closes.push((seq, b.clone()));
            }
            ProgrammeBody::PeriodReopen(b) => {
                self.award(seq, &b.award, "body.award")?;
                let (_, periods) = self.dated.get_mut(&b.award).expect("opened");
                periods.check_reopen(b, actor).map_err(&invalid)?;
                periods.reopen(b, seq, actor);
                // A reopened quarter's earlier close no longer binds its report (a new close
                // will).
                if b.request.is_some() {
                    self.closes
                        .retain(|(_, c)| !(c.award == b.award && c.quarter == b.quarter));
                }
            }
            ProgrammeBody::PartnerRegister(b) => {
                b.check().map_err(&invalid)?;
                if !self.partners.insert(b.partner.clone()) {
                    return Err(Failure::at(
                        seq,
                        rule::PARTNER_REGISTERED_TWICE,
                        format!("body.partner: partner {} is already registered", b.partner),
                    ));
                }
            }
            ProgrammeBody::PartnerKey(b) => self.partner_key(seq, b)?,
            ProgrammeBody::CohortOpen(b) => {
                b.check().map_err(&invalid)?;
                self.award(seq, &b.award, "body.award")?;
                self.partner(seq, b.partner.as_str(), "body.partner")?;
            }
            ProgrammeBody::SessionSchedule(b) => b.check().map_err(&invalid)?,
            ProgrammeBody::ParticipantRegister(b) => {
                b.check().map_err(&invalid)?;
                self.award(seq, &b.award, "body.award")?;
                self.partner(seq, b.partner.as_str(), "body.partner")?;
            }
            ProgrammeBody::Evidence(b) => self.evidence(seq, b)?,
            ProgrammeBody::RuleVersion(b) => {
                // The amounts of a rule are written at its award's currency's scale.
                let currency = self.award(seq, &b.award, "body.award")?;
                b.check(currency).map_err(&invalid)?;
            }
            ProgrammeBody::CycleRun(b) => {
                check_cycle_run(b).map_err(&invalid)?;
                self.award(seq, &b.award, "body.award")?;
            }
        }
        Ok(())
    }

    /// What an entitlement adds to a transaction: its references are well formed, its award is
    /// open and the evidence it cites is earlier. The caller checks its postings.
    pub(super) fn check_entitlement(&self, seq: u64, b: &EntitlementBody) -> Result<(), Failure> {
        b.check_refs().map_err(in_body(seq))?;
        // The seqs are strictly increasing (`check_refs`): the last is the largest.
        if let Some(&last) = b.evidence.last() {
            if last >= seq {
                return Err(Failure::at(
                    seq,
                    rule::EVIDENCE_NOT_EARLIER,
                    format!(
                        "body.evidence: {last} is not an earlier record (this record is {seq})"
                    ),
                ));
            }
        }
        if let Some(a) = b.adjusts.filter(|a| *a >= seq) {
            return Err(Failure::at(
                seq,
                rule::ADJUSTS_NOT_EARLIER,
                format!("body.adjusts: {a} is not an earlier record (this record is {seq})"),
            ));
        }
        self.award(seq, &b.award, "body.award")?;
        Ok(())
    }

    fn award(&self, seq: u64, award: &Id, field: &str) -> Result<Currency, Failure> {
        self.awards.get(award).copied().ok_or_else(|| {
            Failure::at(
                seq,
                rule::UNKNOWN_AWARD,
                format!("{field}: award {award} was never opened"),
            )
        })
    }

    fn partner(&self, seq: u64, partner: &str, field: &str) -> Result<(), Failure> {
        if self.partners.contains(partner) {
            Ok(())
        } else {
            Err(Failure::at(
                seq,
                rule::UNKNOWN_PARTNER,
                format!("{field}: partner {partner} is not registered"),
            ))
        }
    }

    /// `partner.key`: a partner registers before its keys; a key id is registered once (by
    /// `register` or `rotate`); `revoke` and the key a `rotate` replaces must be a registered,
    /// unrevoked key of the same partner, and are revoked from this seq on.
    fn partner_key(&mut self, seq: u64, b: &PartnerKeyBody) -> Result<(), Failure> {
        let key = b.check().map_err(in_body(seq))?;
        self.partner(seq, b.partner.as_str(), "body.partner")?;
        let revoked = match b.action {
            KeyAction::Register | KeyAction::Rotate => {
                if let Some(k) = self.keys.get(&b.key_id) {
                    return Err(Failure::at(
                        seq,
                        rule::KEY_REGISTERED_TWICE,
                        format!(
                            "body.key_id: key {} is already registered (to partner {}); a key \
                             id is never reused",
                            b.key_id, k.partner
                        ),
                    ));
                }
                if let Some(old) = &b.replaces {
                    self.usable(seq, &b.partner, old, "body.replaces")?;
                }
                let Some(key) = key else {
                    return Err(Failure::invalid(
                        seq,
                        &Invalid::new(
                            "body.public_key",
                            Code::MissingField,
                            "register and rotate need a public key",
                        ),
                    ));
                };
                self.keys.insert(
                    b.key_id.clone(),
                    PartnerKey {
                        partner: b.partner.clone(),
                        key,
                        revoked_at: None,
                    },
                );
                self.partner_keys += 1;
                b.replaces.as_ref()
            }
            KeyAction::Revoke => {
                self.usable(seq, &b.partner, &b.key_id, "body.key_id")?;
                Some(&b.key_id)
            }
        };
        if let Some(k) = revoked.and_then(|id| self.keys.get_mut(id)) {
            k.revoked_at = Some(seq);
        }
        Ok(())
    }

    /// The key `id` can be revoked or replaced by `partner`.
    fn usable(&self, seq: u64, partner: &Id, id: &str, field: &str) -> Result<(), Failure> {
        let Some(k) = self.keys.get(id) else {
            return Err(Failure::at(
                seq,
                rule::UNKNOWN_KEY,
                format!("{field}: key {id} was never registered"),
            ));
        };
        if k.partner != *partner {
            return Err(Failure::at(
                seq,
                rule::KEY_OF_ANOTHER_PARTNER,
                format!(
                    "{field}: key {id} belongs to partner {}, not to {partner}",
                    k.partner
                ),
            ));
        }
        if let Some(at) = k.revoked_at {
            return Err(Failure::at(
                seq,
                rule::KEY_ALREADY_REVOKED,
                format!("{field}: key {id} was already revoked at seq {at}"),
            ));
        }
        Ok(())
    }

    /// `evidence`: the statement's partner is registered, `key_id` is a key of that partner,
    /// registered and not revoked at this seq, the signature verifies with it, and the partner
    /// has not used the batch id before.
    fn evidence(&mut self, seq: u64, b: &EvidenceBody) -> Result<(), Failure> {
        b.check().map_err(in_body(seq))?;
        let st = &b.statement;
        let view = EvidenceView {
            partner: st.partner.as_str(),
            batch_id: st.batch_id.as_str(),
            items: st.items.len() as u64,
            key_id: &b.key_id,
        };
        self.evidence_view(seq, &view, |key| b.verify_signature(key))
    }

    /// An `evidence` record the fast decoder read, which it found to pass every stateless
    /// check: `statement` is the canonical bytes of the statement, verbatim from the line.
    pub(super) fn signed_evidence(
        &mut self,
        seq: u64,
        e: &SignedEvidence<'_>,
    ) -> Result<(), Failure> {
        let mut scratch = std::mem::take(&mut self.message);
        let result = self.evidence_view(seq, &e.view, |key| {
            // RFC 8785 is compositional: the bytes of the statement member of a canonical
            // record are the canonical encoding of the statement, which is what was signed.
            scratch.clear();
            scratch.extend_from_slice(EVIDENCE_DOMAIN);
            scratch.extend_from_slice(e.statement.as_bytes());
            key.verify_strict(&scratch, &Signature::from_bytes(&e.signature))
                .map_err(|_| bad_signature(e.view.key_id))
        });
        self.message = scratch;
        result
    }

    /// The stateful rules of `evidence`, once its body passed the stateless ones; `verify`
    /// checks the signature with the key the journal says is valid.
    fn evidence_view(
        &mut self,
        seq: u64,
        v: &EvidenceView<'_>,
        verify: impl FnOnce(&VerifyingKey) -> Result<(), Invalid>,
    ) -> Result<(), Failure> {
        self.partner(seq, v.partner, "body.statement.partner")?;
        let Some(key) = self.keys.get(v.key_id) else {
            return Err(Failure::at(
                seq,
                rule::EVIDENCE_UNKNOWN_KEY,
                format!(
                    "body.key_id: key {} was never registered by a partner.key record",
                    v.key_id
                ),
            ));
        };
        if key.partner.as_str() != v.partner {
            return Err(Failure::at(
                seq,
                rule::EVIDENCE_WRONG_PARTNER_KEY,
                format!(
                    "body.key_id: key {} belongs to partner {}, but the statement is partner {}'s",
                    v.key_id, key.partner, v.partner
                ),
            ));
        }
        if let Some(at) = key.revoked_at {
            return Err(Failure::at(
                seq,
                rule::EVIDENCE_KEY_REVOKED,
                format!(
                    "body.key_id: key {} of partner {} was revoked at seq {at}",
                    v.key_id, v.partner
                ),
            ));
        }
        verify(&key.key).map_err(|e| {
            Failure::at(
                seq,
                rule::EVIDENCE_BAD_SIGNATURE,
                format!("body.{}: {}", e.field, e.detail),
            )
        })?;
        let pair = [v.partner.as_bytes(), b"\0", v.batch_id.as_bytes()].concat();
        if !self.batches.insert(pair.into_boxed_slice()) {
            return Err(Failure::at(
                seq,
                rule::DUPLICATE_BATCH,
                format!(
                    "body.statement.batch_id: partner {} already submitted batch {}",
                    v.partner, v.batch_id
                ),
            ));
        }
        self.evidence_statements += 1;
        self.evidence_items += v.items;
        Ok(())
    }
}

/// The stateless rules of `cycle.run` (its type has no `check` of its own).
fn check_cycle_run(b: &CycleRunBody) -> Result<(), Invalid> {
    Id::parse(b.award.as_str()).map_err(|e| e.within("award"))?;
    let is_digest = b.report_sha256.len() == 64
        && b.report_sha256
            .bytes()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if !is_digest {
        return Err(Invalid::new(
            "report_sha256",
            Code::InvalidDigest,
            "must be 64 lowercase hex digits (a SHA-256)",
        ));
    }
    Ok(())
}
