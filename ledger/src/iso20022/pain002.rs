//! pain.002 in: the customer payment status report (`pain.002.001.*`, e.g. .10 and .12).

use quick_xml::events::BytesStart;
use tranche_audit::money::Money;
use tranche_audit::Code;

use super::xml::{required_attribute, walk, Ctx, Handler, Spec};
use super::{parse_money, Iso20022Error, Position};

/// What a status means for the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentOutcome {
    /// Accepted at some stage (technical validation, customer profile, settlement in process
    /// or completed).
    Accepted,
    /// Rejected or cancelled: the money did not leave.
    Rejected,
    /// Received, pending, blocked or partially accepted: ask again later.
    Pending,
}

/// The ISO 20022 status codes (ExternalPaymentTransactionStatus1Code) tranche reads.
const STATUSES: [(&str, PaymentOutcome); 16] = [
    ("ACCC", PaymentOutcome::Accepted),
    ("ACCP", PaymentOutcome::Accepted),
    ("ACFC", PaymentOutcome::Accepted),
    ("ACIS", PaymentOutcome::Accepted),
    ("ACSC", PaymentOutcome::Accepted),
    ("ACSP", PaymentOutcome::Accepted),
    ("ACTC", PaymentOutcome::Accepted),
    ("ACWC", PaymentOutcome::Accepted),
    ("ACWP", PaymentOutcome::Accepted),
    ("BLCK", PaymentOutcome::Pending),
    ("PART", PaymentOutcome::Pending),
    ("PATC", PaymentOutcome::Pending),
    ("PDNG", PaymentOutcome::Pending),
    ("RCVD", PaymentOutcome::Pending),
    ("RJCT", PaymentOutcome::Rejected),
    ("CANC", PaymentOutcome::Rejected),
];

/// A status code (`ACSC`, `RJCT`, …) and its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionStatus {
    /// The code as the bank wrote it.
    pub code: &'static str,
    /// What it means for the payment.
    pub outcome: PaymentOutcome,
}

impl TransactionStatus {
    /// The status for a code, or `None` for a code tranche does not know.
    pub fn parse(code: &str) -> Option<Self> {
        STATUSES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, outcome)| TransactionStatus { code, outcome })
    }
}

/// One `OrgnlPmtInfAndSts`: the status of a payment information block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInfoStatus {
    /// `OrgnlPmtInfId`.
    pub original_payment_info_id: String,
    /// `PmtInfSts`, if given.
    pub status: Option<TransactionStatus>,
    /// The first `StsRsnInf/Rsn/Cd` (or `Prtry`).
    pub reason: Option<String>,
    /// Where the block starts.
    pub position: Position,
}

/// One `TxInfAndSts`: the status of one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionStatusLine {
    /// `OrgnlEndToEndId`: the end-to-end id tranche wrote.
    pub original_end_to_end_id: String,
    /// `OrgnlInstrId`, if given.
    pub original_instruction_id: Option<String>,
    /// The enclosing `OrgnlPmtInfId`.
    pub original_payment_info_id: Option<String>,
    /// `TxSts`; when absent, the payment information's `PmtInfSts`, else the group's `GrpSts`.
    pub status: TransactionStatus,
    /// True when `status` came from the enclosing block or group rather than `TxSts`.
    pub status_inherited: bool,
    /// The first `StsRsnInf/Rsn/Cd` (`AC01`, `AC04`, `AM04`, …), or `Rsn/Prtry`.
    pub reason: Option<String>,
    /// Every `StsRsnInf/AddtlInf`, joined with spaces.
    pub additional_info: Option<String>,
    /// `OrgnlTxRef/Amt/InstdAmt`, if given.
    pub original_amount: Option<Money>,
    /// The element path (`Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/TxInfAndSts[2]`).
    pub path: String,
    /// Where `TxInfAndSts` starts.
    pub position: Position,
}

/// A parsed pain.002.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The message version (`"10"` for pain.002.001.10).
    pub version: String,
    /// `GrpHdr/MsgId` of the report itself.
    pub message_id: String,
    /// The day of `GrpHdr/CreDtTm` as the bank wrote it (its local date), if readable: the
    /// date its outcomes are booked on.
    pub created: Option<chrono::NaiveDate>,
    /// `OrgnlGrpInfAndSts/OrgnlMsgId`: the pain.001 this report answers.
    pub original_message_id: String,
    /// `OrgnlGrpInfAndSts/OrgnlMsgNmId` (`pain.001.001.09`), if given.
    pub original_message_name: Option<String>,
    /// `OrgnlGrpInfAndSts/GrpSts`, if given (a group `RJCT` with no transactions rejects the
    /// whole file).
    pub group_status: Option<TransactionStatus>,
    /// The group's first `StsRsnInf/Rsn/Cd` (or `Prtry`).
    pub group_reason: Option<String>,
    /// Every `OrgnlPmtInfAndSts`, in file order.
    pub payment_infos: Vec<PaymentInfoStatus>,
    /// Every `TxInfAndSts`, in file order.
    pub transactions: Vec<TransactionStatusLine>,
}

#[derive(Debug, Default)]
struct TxState {
    end_to_end_id: Option<String>,
    instruction_id: Option<String>,
    status: Option<TransactionStatus>,
    reason: Option<String>,
    info: Vec<String>,
    currency: Option<String>,
    amount: Option<Money>,
}

#[derive(Debug, Default)]
struct ReportReader {
    message_id: Option<String>,
    created: Option<chrono::NaiveDate>,
    original_message_id: Option<String>,
    original_message_name: Option<String>,
    group_status: Option<TransactionStatus>,
    group_reason: Option<String>,
    pmt_inf: Option<PaymentInfoStatus>,
    payment_infos: Vec<PaymentInfoStatus>,
    tx: Option<TxState>,
    transactions: Vec<TransactionStatusLine>,
}

const DOC: &str = "Document";
const ROOT: &str = "CstmrPmtStsRpt";
const GRP: &str = "OrgnlGrpInfAndSts";
const PMT: &str = "OrgnlPmtInfAndSts";
const TX: &str = "TxInfAndSts";

fn non_empty(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn status(ctx: &mut Ctx<'_>, text: &str) -> Result<TransactionStatus, Iso20022Error> {
    let code = text.trim();
    TransactionStatus::parse(code).ok_or_else(|| {
        let known: Vec<&str> = STATUSES.iter().map(|(c, _)| *c).collect();
        ctx.invalid(
            Code::UnknownStatus,
            format!("unknown status code {code:?}; known: {}", known.join(", ")),
        )
    })
}

impl Handler for ReportReader {
    fn start(&mut self, ctx: &mut Ctx<'_>, element: &BytesStart<'_>) -> Result<(), Iso20022Error> {
        if ctx.depth() == 3 && ctx.is(&[DOC, ROOT, PMT]) {
            let position = ctx.position();
            self.pmt_inf = Some(PaymentInfoStatus {
                original_payment_info_id: String::new(),
                status: None,
                reason: None,
                position,
            });
        } else if ctx.rel(2, &[PMT, TX]) {
            self.tx = Some(TxState::default());
        } else if ctx.rel(2, &[PMT, TX, "OrgnlTxRef", "Amt", "InstdAmt"]) {
            let ccy = required_attribute(ctx, element, "Ccy")?;
            if let Some(tx) = &mut self.tx {
                tx.currency = Some(ccy);
            }
        }
        Ok(())
    }

    fn end(&mut self, ctx: &mut Ctx<'_>, text: &str) -> Result<(), Iso20022Error> {
        let depth = ctx.depth();
        if ctx.rel(2, &[PMT, TX, "OrgnlEndToEndId"]) {
            if let Some(tx) = &mut self.tx {
                tx.end_to_end_id = non_empty(text);
            }
        } else if ctx.rel(2, &[PMT, TX, "OrgnlInstrId"]) {
            if let Some(tx) = &mut self.tx {
                tx.instruction_id = non_empty(text);
            }
        } else if ctx.rel(2, &[PMT, TX, "TxSts"]) {
            let s = status(ctx, text)?;
            if let Some(tx) = &mut self.tx {
                tx.status = Some(s);
            }
        } else if ctx.rel(2, &[PMT, TX, "StsRsnInf", "Rsn", "Cd"])
            || ctx.rel(2, &[PMT, TX, "StsRsnInf", "Rsn", "Prtry"])
        {
            if let Some(tx) = &mut self.tx {
                if tx.reason.is_none() {
                    tx.reason = non_empty(text);
                }
            }
        } else if ctx.rel(2, &[PMT, TX, "StsRsnInf", "AddtlInf"]) {
            if let (Some(tx), Some(info)) = (&mut self.tx, non_empty(text)) {
                tx.info.push(info);
            }
        } else if ctx.rel(2, &[PMT, TX, "OrgnlTxRef", "Amt", "InstdAmt"]) {
            let ccy = self
                .tx
                .as_ref()
                .and_then(|t| t.currency.clone())
                .unwrap_or_default();
            let amount = parse_money(text.trim(), &ccy, false)
                .map_err(|e| e.at(ctx.path(), Some(ctx.position())))?;
            if let Some(tx) = &mut self.tx {
                tx.amount = Some(amount);
            }
        } else if ctx.rel(2, &[PMT, TX]) {
            let tx = self.tx.take().unwrap_or_default();
            let Some(end_to_end_id) = tx.end_to_end_id else {
                return Err(ctx.missing(depth, "OrgnlEndToEndId"));
            };
            let block = self.pmt_inf.as_ref();
            let inherited = block.and_then(|b| b.status).or(self.group_status);
            let (status, status_inherited) = match (tx.status, inherited) {
                (Some(s), _) => (s, false),
                (None, Some(s)) => (s, true),
                (None, None) => return Err(ctx.missing(depth, "TxSts")),
            };
            // An inherited status brings its reason along.
            let reason = tx.reason.or_else(|| match (status_inherited, block) {
                (false, _) => None,
                (true, Some(b)) if b.status.is_some() => b.reason.clone(),
                (true, _) => self.group_reason.clone(),
            });
            let path = ctx.path();
            let position = ctx.position();
            self.transactions.push(TransactionStatusLine {
                original_end_to_end_id: end_to_end_id,
                original_instruction_id: tx.instruction_id,
                original_payment_info_id: block
                    .map(|b| b.original_payment_info_id.clone())
                    .filter(|id| !id.is_empty()),
                status,
                status_inherited,
                reason,
                additional_info: (!tx.info.is_empty()).then(|| tx.info.join(" ")),
                original_amount: tx.amount,
                path,
                position,
            });
        } else if ctx.is(&[DOC, ROOT, PMT, "OrgnlPmtInfId"]) {
            if let Some(p) = &mut self.pmt_inf {
                p.original_payment_info_id = text.trim().to_string();
            }
        } else if ctx.is(&[DOC, ROOT, PMT, "PmtInfSts"]) {
            let s = status(ctx, text)?;
            if let Some(p) = &mut self.pmt_inf {
                p.status = Some(s);
            }
        } else if ctx.is(&[DOC, ROOT, PMT, "StsRsnInf", "Rsn", "Cd"])
            || ctx.is(&[DOC, ROOT, PMT, "StsRsnInf", "Rsn", "Prtry"])
        {
            if let Some(p) = &mut self.pmt_inf {
                if p.reason.is_none() {
                    p.reason = non_empty(text);
                }
            }
        } else if ctx.is(&[DOC, ROOT, PMT]) {
            if let Some(p) = self.pmt_inf.take() {
                if p.original_payment_info_id.is_empty() {
                    return Err(ctx.missing(depth, "OrgnlPmtInfId"));
                }
                self.payment_infos.push(p);
            }
        } else if ctx.is(&[DOC, ROOT, "GrpHdr", "MsgId"]) {
            self.message_id = non_empty(text);
        } else if ctx.is(&[DOC, ROOT, "GrpHdr", "CreDtTm"]) {
            self.created = text.trim().get(..10).and_then(super::parse_iso_date);
        } else if ctx.is(&[DOC, ROOT, GRP, "OrgnlMsgId"]) {
            self.original_message_id = non_empty(text);
        } else if ctx.is(&[DOC, ROOT, GRP, "OrgnlMsgNmId"]) {
            self.original_message_name = non_empty(text);
        } else if ctx.is(&[DOC, ROOT, GRP, "GrpSts"]) {
            self.group_status = Some(status(ctx, text)?);
        } else if ctx.is(&[DOC, ROOT, GRP, "StsRsnInf", "Rsn", "Cd"])
            || ctx.is(&[DOC, ROOT, GRP, "StsRsnInf", "Rsn", "Prtry"])
        {
            if self.group_reason.is_none() {
                self.group_reason = non_empty(text);
            }
        } else if ctx.is(&[DOC, ROOT, "GrpHdr"]) {
            if self.message_id.is_none() {
                return Err(ctx.missing(depth, "MsgId"));
            }
        } else if ctx.is(&[DOC, ROOT, GRP]) {
            if self.original_message_id.is_none() {
                return Err(ctx.missing(depth, "OrgnlMsgId"));
            }
        } else if depth == 2 {
            if self.message_id.is_none() {
                return Err(ctx.missing(depth, "GrpHdr"));
            }
            if self.original_message_id.is_none() {
                return Err(ctx.missing(depth, GRP));
            }
        }
        Ok(())
    }
}

const PAIN002_SPEC: Spec = Spec {
    message: "pain.002.001",
    versions: &[],
    element: ROOT,
    expected: "pain.002.001.* (CstmrPmtStsRpt)",
};

/// Parses a payment status report (`urn:iso:std:iso:20022:tech:xsd:pain.002.001.*`; written
/// against .10 and .12): the report's `GrpHdr/MsgId`, `OrgnlGrpInfAndSts` (`OrgnlMsgId`,
/// `OrgnlMsgNmId`, `GrpSts`, its reason), every `OrgnlPmtInfAndSts` (`OrgnlPmtInfId`,
/// `PmtInfSts`, its reason) and every `TxInfAndSts` (`OrgnlEndToEndId`, `OrgnlInstrId`,
/// `TxSts` or the status inherited from its block or group, the first `StsRsnInf/Rsn/Cd`,
/// `AddtlInf`, `OrgnlTxRef/Amt/InstdAmt`), each with its path and position. Unknown status
/// codes, unknown currencies and bad amounts are refused, as is anything the module's safety
/// rules refuse.
pub fn parse_pain002(xml: &[u8]) -> Result<StatusReport, Iso20022Error> {
    let mut reader = ReportReader::default();
    let version = walk(xml, &PAIN002_SPEC, &mut reader)?;
    Ok(StatusReport {
        version,
        message_id: reader.message_id.unwrap_or_default(),
        created: reader.created,
        original_message_id: reader.original_message_id.unwrap_or_default(),
        original_message_name: reader.original_message_name,
        group_status: reader.group_status,
        group_reason: reader.group_reason,
        payment_infos: reader.payment_infos,
        transactions: reader.transactions,
    })
}
