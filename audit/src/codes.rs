//! The closed vocabulary of refusal codes. Each code's text is the stable `code` of a refusal
//! (`Invalid`, the API's problem+json, the CLI's messages); a caller matches on the enum, never
//! on the text. A code whose meaning fixes how the API answers carries its [`Class`].

use std::fmt;

/// How a refusal is answered over HTTP when its code always means the same thing. A code
/// without a class is answered with the status of the place that raised it (422 for bad input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The request is malformed (400).
    BadRequest,
    /// No valid credentials (401).
    Unauthorized,
    /// Valid credentials without the right (403).
    Forbidden,
    /// Nothing at that address (404).
    NotFound,
    /// The method is not served at that address (405).
    MethodNotAllowed,
    /// The request conflicts with the ledger's state (409).
    Conflict,
    /// The body is over its limit (413).
    TooLarge,
    /// The body's media type is not accepted (415).
    UnsupportedMediaType,
    /// The ledger cannot answer now (503).
    Unavailable,
    /// Our fault (500).
    Internal,
}

macro_rules! codes {
    ($($name:ident = $text:literal $(=> $class:ident)?,)*) => {
        /// A refusal code: see the module's documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($name,)*
        }

        impl Code {
            /// Every code, in the order declared.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The stable text of the code (`too_many_decimals`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $text,)*
                }
            }

            /// How the API answers this code, when the code alone decides it.
            pub const fn class(self) -> Option<Class> {
                match self {
                    $(Code::$name => codes!(@class $($class)?),)*
                }
            }
        }
    };
    (@class) => { None };
    (@class $class:ident) => { Some(Class::$class) };
}

impl Code {
    /// The code whose text is `text`.
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

codes! {
    // BEGIN CODES
    AboveOpenPayable = "above_open_payable",
    AboveReceivable = "above_receivable",
    AccountClosed = "account_closed",
    AccountExists = "account_exists",
    AccountNotEmpty = "account_not_empty",
    AccountTypeRequired = "account_type_required",
    AdjustmentOfAnotherRule = "adjustment_of_another_rule",
    AlreadyApproved = "already_approved",
    AlreadyImported = "already_imported",
    AlreadyPaid = "already_paid",
    AlreadyReversed = "already_reversed",
    AmountMismatch = "amount_mismatch",
    AmountNotEntitlements = "amount_not_entitlements",
    AmountNotPositive = "amount_not_positive",
    AmountTooLarge = "amount_too_large",
    AwardExists = "award_exists",
    BadReportSignature = "bad_report_signature",
    BadRequest = "bad_request",
    BadSignature = "bad_signature",
    BankRequired = "bank_required",
    BatchComplete = "batch_complete",
    BatchExists = "batch_exists",
    BatchNotApproved = "batch_not_approved",
    BatchNotAwaitingApproval = "batch_not_awaiting_approval",
    BatchNotCancellable = "batch_not_cancellable",
    BatchNotDraft = "batch_not_draft",
    BatchOfAnotherAward = "batch_of_another_award",
    BatchSize = "batch_size",
    BatchTooLarge = "batch_too_large",
    BatchTotalsMismatch = "batch_totals_mismatch",
    BeyondTreeSize = "beyond_tree_size" => BadRequest,
    BodyTooLarge = "body_too_large" => TooLarge,
    BudgetDoesNotAddUp = "budget_does_not_add_up",
    BudgetExceeded = "budget_exceeded",
    Busy = "busy" => Unavailable,
    CapBelowAmount = "cap_below_amount",
    CapExceeded = "cap_exceeded",
    CohortExists = "cohort_exists",
    CohortOfAnotherAward = "cohort_of_another_award",
    CohortOfAnotherPartner = "cohort_of_another_partner",
    ControlCharacter = "control_character",
    ControlCharacters = "control_characters",
    ControlSumMismatch = "control_sum_mismatch",
    CorrectionChangesNothing = "correction_changes_nothing",
    CountMismatch = "count_mismatch",
    Csrf = "csrf" => Forbidden,
    CurrencyMismatch = "currency_mismatch",
    CycleMoved = "cycle_moved" => Conflict,
    DateAfterLiquidation = "date_after_liquidation",
    DateBeforeAward = "date_before_award",
    DateBeforeOriginal = "date_before_original",
    DateInFuture = "date_in_future",
    DateOutsideAward = "date_outside_award",
    DigestMismatch = "digest_mismatch",
    DoctypeRefused = "doctype_refused",
    DuplicateAttendance = "duplicate_attendance",
    DuplicateBatch = "duplicate_batch",
    DuplicateBudgetLine = "duplicate_budget_line",
    DuplicateCertification = "duplicate_certification",
    DuplicateColumn = "duplicate_column",
    DuplicateDocument = "duplicate_document",
    DuplicateEndToEndId = "duplicate_end_to_end_id",
    DuplicateEnrolment = "duplicate_enrolment",
    DuplicateEntitlement = "duplicate_entitlement",
    DuplicateMessageId = "duplicate_message_id",
    DuplicateMilestone = "duplicate_milestone",
    DuplicateOutcome = "duplicate_outcome",
    DuplicateRow = "duplicate_row",
    DuplicateSession = "duplicate_session",
    DuplicateVendor = "duplicate_vendor",
    EffectiveBeforePrevious = "effective_before_previous",
    EffectiveNotMonthStart = "effective_not_month_start",
    Empty = "empty",
    EmptyBatch = "empty_batch",
    EmptyFile = "empty_file",
    EmptyInput = "empty_input",
    EmptyJournal = "empty_journal",
    EmptyList = "empty_list",
    EndBeforeStart = "end_before_start",
    EntitlementAdjusted = "entitlement_adjusted",
    EntitlementNotPaid = "entitlement_not_paid",
    EntitlementPaid = "entitlement_paid",
    EntitlementReversed = "entitlement_reversed",
    EvidenceAfterEntitlement = "evidence_after_entitlement",
    FileChanged = "file_changed",
    FileDoesNotMatchBatch = "file_does_not_match_batch",
    FileExists = "file_exists",
    FileRequired = "file_required",
    Forbidden = "forbidden" => Forbidden,
    IdempotencyKeyReused = "idempotency_key_reused" => Conflict,
    ImportOfAnotherAward = "import_of_another_award",
    InsufficientFunds = "insufficient_funds",
    Internal = "internal" => Internal,
    InvalidAccount = "invalid_account",
    InvalidAccountName = "invalid_account_name",
    InvalidAccountType = "invalid_account_type",
    InvalidActor = "invalid_actor",
    InvalidAmount = "invalid_amount",
    InvalidApprovals = "invalid_approvals",
    InvalidBankCode = "invalid_bank_code",
    InvalidBasis = "invalid_basis",
    InvalidBatch = "invalid_batch",
    InvalidBic = "invalid_bic",
    InvalidBody = "invalid_body",
    InvalidBudgetLines = "invalid_budget_lines",
    InvalidCommitment = "invalid_commitment",
    InvalidDate = "invalid_date",
    InvalidDigest = "invalid_digest",
    InvalidDocument = "invalid_document",
    InvalidEndToEndId = "invalid_end_to_end_id",
    InvalidEntitlements = "invalid_entitlements",
    InvalidField = "invalid_field",
    InvalidForm = "invalid_form",
    InvalidFormat = "invalid_format",
    InvalidHeader = "invalid_header",
    InvalidIban = "invalid_iban",
    InvalidId = "invalid_id",
    InvalidIdempotencyKey = "invalid_idempotency_key" => BadRequest,
    InvalidItems = "invalid_items",
    InvalidKeyId = "invalid_key_id",
    InvalidName = "invalid_name",
    InvalidPartner = "invalid_partner",
    InvalidPath = "invalid_path" => BadRequest,
    InvalidPayee = "invalid_payee",
    InvalidPercent = "invalid_percent",
    InvalidPeriod = "invalid_period",
    InvalidProofRequest = "invalid_proof_request" => BadRequest,
    InvalidPublicKey = "invalid_public_key",
    InvalidQuarter = "invalid_quarter",
    InvalidQuery = "invalid_query" => BadRequest,
    InvalidRate = "invalid_rate",
    InvalidRequest = "invalid_request",
    InvalidRole = "invalid_role",
    InvalidRow = "invalid_row",
    InvalidRows = "invalid_rows",
    InvalidSeq = "invalid_seq",
    InvalidSessions = "invalid_sessions",
    InvalidSignature = "invalid_signature",
    InvalidSize = "invalid_size",
    InvalidText = "invalid_text",
    InvalidTime = "invalid_time",
    InvalidUserName = "invalid_user_name",
    InvalidUtcOffset = "invalid_utc_offset",
    InvalidUtf8 = "invalid_utf8",
    InvalidValue = "invalid_value",
    InvalidVendor = "invalid_vendor",
    InvalidVersion = "invalid_version",
    InvalidVocabulary = "invalid_vocabulary",
    KeyExists = "key_exists",
    KeyIdMismatch = "key_id_mismatch",
    KeyRevoked = "key_revoked",
    LastAdmin = "last_admin" => Conflict,
    LedgerKeyNotFirst = "ledger_key_not_first",
    LedgerMoved = "ledger_moved" => Conflict,
    LimitOutOfRange = "limit_out_of_range",
    LineOutsideStatement = "line_outside_statement",
    MalformedCsv = "malformed_csv",
    MalformedJson = "malformed_json" => BadRequest,
    MalformedXml = "malformed_xml",
    MemoMixed = "memo_mixed",
    MethodNotAllowed = "method_not_allowed" => MethodNotAllowed,
    MilestoneAfterFailure = "milestone_after_failure",
    MilestoneOutOfOrder = "milestone_out_of_order",
    MissingAmount = "missing_amount",
    MissingColumn = "missing_column",
    MissingCurrency = "missing_currency",
    MissingElement = "missing_element",
    MissingField = "missing_field",
    MissingHeader = "missing_header",
    MissingId = "missing_id",
    MissingIdempotencyKey = "missing_idempotency_key" => BadRequest,
    MissingValue = "missing_value",
    NoBankAccount = "no_bank_account",
    NoBankFile = "no_bank_file",
    NoDisbursementSettings = "no_disbursement_settings",
    NoOpenPayables = "no_open_payables",
    NoParts = "no_parts",
    NoPayments = "no_payments",
    NoRows = "no_rows",
    NoStatements = "no_statements",
    NoVendorAccount = "no_vendor_account",
    NonCanonicalAmount = "non_canonical_amount",
    NotAMirror = "not_a_mirror",
    NotAPayable = "not_a_payable",
    NotAnEntitlement = "not_an_entitlement",
    NotAscending = "not_ascending",
    NotEnrolled = "not_enrolled",
    NotFound = "not_found" => NotFound,
    NotInCourse = "not_in_course",
    NotInEntrepreneurship = "not_in_entrepreneurship",
    NotInVocabulary = "not_in_vocabulary",
    NotPositive = "not_positive",
    NotReady = "not_ready" => Unavailable,
    NotReissuable = "not_reissuable",
    NotTheLiveEntitlement = "not_the_live_entitlement",
    NotUtf8 = "not_utf8",
    NothingToCorrect = "nothing_to_correct",
    OriginMismatch = "origin_mismatch",
    OwnBatch = "own_batch",
    PartOutOfOrder = "part_out_of_order",
    PartTooLarge = "part_too_large",
    ParticipantExists = "participant_exists",
    ParticipantOfAnotherAward = "participant_of_another_award",
    ParticipantRequired = "participant_required",
    PartnerExists = "partner_exists",
    PartnerMismatch = "partner_mismatch",
    PartnerNotAllowed = "partner_not_allowed",
    PartnerRequired = "partner_required",
    PartnerScope = "partner_scope" => Forbidden,
    PayableInOpenBatch = "payable_in_open_batch",
    PayableOfAnotherPayee = "payable_of_another_payee",
    PaymentOfAnotherAward = "payment_of_another_award",
    PeriodAlreadyRun = "period_already_run",
    PeriodClosed = "period_closed" => Conflict,
    PeriodNotClosed = "period_not_closed",
    PeriodNotEnded = "period_not_ended",
    PeriodNotNext = "period_not_next",
    PeriodOutsideAward = "period_outside_award",
    PeriodRequired = "period_required",
    PersonalDataErased = "personal_data_erased",
    PostingsNotDerived = "postings_not_derived",
    ProjectionDamaged = "projection_damaged" => Unavailable,
    ReasonRequired = "reason_required",
    ReasonTooLong = "reason_too_long",
    RecordTooLarge = "record_too_large",
    RecoveryAboveEntitlement = "recovery_above_entitlement",
    Refused = "refused",
    ReissueIncomplete = "reissue_incomplete",
    ReissueNotCited = "reissue_not_cited",
    ReopenPending = "reopen_pending" => Conflict,
    ReturnNotConfirmed = "return_not_confirmed",
    ReversalAndAdjustment = "reversal_and_adjustment",
    ReversalOfReversal = "reversal_of_reversal",
    RotationFirst = "rotation_first",
    SameApprover = "same_approver",
    SeqBeyondSize = "seq_beyond_size",
    SessionExists = "session_exists",
    SessionOutsideAward = "session_outside_award",
    ShapeAlreadyRuled = "shape_already_ruled",
    ShapeChanged = "shape_changed",
    SizesOutOfOrder = "sizes_out_of_order",
    StartAfterEnd = "start_after_end",
    StatementUnbalanced = "statement_unbalanced",
    StatusNotAllowed = "status_not_allowed",
    StrayQuote = "stray_quote",
    TextAfterQuote = "text_after_quote",
    Timeout = "timeout" => Unavailable,
    TooDeep = "too_deep",
    TooFewParts = "too_few_parts",
    TooFewPostings = "too_few_postings",
    TooLarge = "too_large",
    TooLong = "too_long",
    TooManyCells = "too_many_cells",
    TooManyDecimals = "too_many_decimals",
    TooManyPostings = "too_many_postings",
    TooManyRefs = "too_many_refs",
    TranchesDoNotAddUp = "tranches_do_not_add_up",
    Unauthorized = "unauthorized" => Unauthorized,
    Unbalanced = "unbalanced",
    Unencodable = "unencodable",
    UnexpectedField = "unexpected_field",
    UnexpectedValue = "unexpected_value",
    UnknownAccount = "unknown_account",
    UnknownAward = "unknown_award",
    UnknownBatch = "unknown_batch",
    UnknownBudgetLine = "unknown_budget_line",
    UnknownCohort = "unknown_cohort",
    UnknownColumn = "unknown_column",
    UnknownCurrency = "unknown_currency",
    UnknownEndToEndId = "unknown_end_to_end_id",
    UnknownField = "unknown_field" => BadRequest,
    UnknownFile = "unknown_file",
    UnknownFormat = "unknown_format",
    UnknownImport = "unknown_import",
    UnknownKey = "unknown_key",
    UnknownKind = "unknown_kind",
    UnknownPart = "unknown_part",
    UnknownParticipant = "unknown_participant",
    UnknownPartner = "unknown_partner",
    UnknownPayee = "unknown_payee",
    UnknownPayment = "unknown_payment",
    UnknownReopenRequest = "unknown_reopen_request",
    UnknownReport = "unknown_report",
    UnknownReportKey = "unknown_report_key",
    UnknownRuleVersion = "unknown_rule_version",
    UnknownSession = "unknown_session",
    UnknownStatus = "unknown_status",
    UnknownTransaction = "unknown_transaction",
    UnknownVendor = "unknown_vendor",
    UnreadableBody = "unreadable_body",
    UnsortedRefs = "unsorted_refs",
    UnsupportedEncoding = "unsupported_encoding",
    UnsupportedMediaType = "unsupported_media_type" => UnsupportedMediaType,
    UnterminatedQuote = "unterminated_quote",
    UserExists = "user_exists",
    VersionOutOfOrder = "version_out_of_order",
    WrongApprovalsRequired = "wrong_approvals_required",
    WrongCellCount = "wrong_cell_count",
    WrongMessage = "wrong_message",
    WrongPartnerKey = "wrong_partner_key",
    // END CODES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_text_in_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let t = c.as_str();
            assert!(seen.insert(t), "{t} twice");
            assert!(
                !t.is_empty()
                    && t.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{t} is not snake_case"
            );
            assert_eq!(Code::parse(t), Some(*c));
        }
    }
}
