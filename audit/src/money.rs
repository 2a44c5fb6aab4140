//! Currencies and exact money amounts. Amounts are `rust_decimal` values carried as strings with
//! exactly the currency's ISO 4217 minor-unit digits ("60.00", "1500" for CLP). An amount with
//! more decimals than its currency allows is an error, never rounded.

use std::fmt;
use std::str::FromStr;

use crate::codes::Code;

use rust_decimal::Decimal;

/// The largest amount one posting may carry, in minor units. It keeps every running balance far
/// inside an `i64` (a limit on everything, so that overflow is impossible rather than handled).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// ISO 4217 codes and their minor units. The programmes tranche serves pay in these.
const CURRENCIES: &[(&str, u32)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("CLP", 0),
    ("MXN", 2),
    ("COP", 2),
    ("PEN", 2),
    ("BRL", 2),
    ("ARS", 2),
    ("BOB", 2),
    ("GBP", 2),
    ("CHF", 2),
    ("CAD", 2),
    ("JPY", 0),
    ("KES", 2),
    ("UGX", 0),
    ("XOF", 0),
    ("XAF", 0),
    ("JOD", 3),
    ("KWD", 3),
    ("BHD", 3),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum MoneyError {
    #[error("unknown currency {0:?}: use an ISO 4217 code such as USD, EUR, CLP, MXN or COP")]
    UnknownCurrency(String),
    #[error("{0:?} is not a decimal amount (digits with an optional '.' and fraction)")]
    NotAnAmount(String),
    #[error("{amount:?} has {got} decimals but {currency} allows at most {max}")]
    TooManyDecimals {
        amount: String,
        currency: Currency,
        got: u32,
        max: u32,
    },
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("{0:?} is larger than the largest amount one posting may carry")]
    TooLarge(String),
}

impl MoneyError {
    /// The rule the amount breaks, as every refusal of tranche names it.
    pub fn code(&self) -> Code {
        match self {
            MoneyError::UnknownCurrency(_) => Code::UnknownCurrency,
            MoneyError::NotAnAmount(_) => Code::InvalidAmount,
            MoneyError::TooManyDecimals { .. } => Code::TooManyDecimals,
            MoneyError::NotPositive => Code::AmountNotPositive,
            MoneyError::TooLarge(_) => Code::AmountTooLarge,
        }
    }
}

/// An ISO 4217 currency that tranche knows the minor units of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    minor_units: u32,
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, minor_units)| Currency { code, minor_units })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }

    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES
            .iter()
            .map(|&(code, minor_units)| Currency { code, minor_units })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// A non-negative exact amount in one currency, held at exactly the currency's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Parses a positive amount such as "60", "60.5" or "60.50" for USD. More decimals than the
    /// currency allows, signs, exponents, and zero are refused.
    pub fn parse_positive(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let m = Self::parse_non_negative(text, currency)?;
        if m.amount.is_zero() {
            return Err(MoneyError::NotPositive);
        }
        Ok(m)
    }

    fn parse_non_negative(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        if text.starts_with('-') {
            return Err(MoneyError::NotPositive);
        }
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) || int.len() > 20 {
            return Err(MoneyError::NotAnAmount(text.to_string()));
        }
        let decimals = frac.map_or(0, str::len) as u32;
        if decimals > currency.minor_units {
            // Trailing zeros beyond the scale are still too many decimals: "60.000" for USD is
            // refused rather than silently reinterpreted.
            return Err(MoneyError::TooManyDecimals {
                amount: text.to_string(),
                currency,
                got: decimals,
                max: currency.minor_units,
            });
        }
        let mut amount =
            Decimal::from_str(text).map_err(|_| MoneyError::NotAnAmount(text.to_string()))?;
        amount.rescale(currency.minor_units);
        let m = Money { amount, currency };
        if m.checked_minor().is_none_or(|v| v > MAX_AMOUNT_MINOR) {
            return Err(MoneyError::TooLarge(text.to_string()));
        }
        Ok(m)
    }

    /// An amount from minor units (cents for USD).
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Money {
            amount: Decimal::new(minor, currency.minor_units),
            currency,
        }
    }

    fn checked_minor(&self) -> Option<i64> {
        let mantissa = self.amount.mantissa();
        i64::try_from(mantissa).ok()
    }

    /// The amount in minor units. Always fits: construction bounds it by `MAX_AMOUNT_MINOR`.
    pub fn minor(&self) -> i64 {
        self.checked_minor()
            .expect("amounts are bounded by MAX_AMOUNT_MINOR at construction")
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// True when `text` is exactly how tranche writes this amount in a record.
    pub fn is_canonical_text(text: &str, currency: Currency) -> bool {
        Self::parse_non_negative(text, currency).is_ok_and(|m| m.to_string() == text)
    }
}

impl fmt::Display for Money {
    /// The amount alone, at the currency's scale ("60.00"); the currency travels beside it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.amount)
    }
}

/// Formats a signed minor-unit total at the currency's scale ("-12.50").
pub fn format_minor(minor: i128, currency: Currency) -> String {
    let d = Decimal::from_i128_with_scale(minor, currency.minor_units);
    d.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD is known")
    }

    #[test]
    fn amounts_are_held_at_the_currency_scale() {
        assert_eq!(
            Money::parse_positive("60", usd()).map(|m| m.to_string()),
            Ok("60.00".into())
        );
        assert_eq!(
            Money::parse_positive("60.5", usd()).map(|m| m.minor()),
            Ok(6050)
        );
        let clp = Currency::parse("CLP").expect("CLP is known");
        assert_eq!(
            Money::parse_positive("1500", clp).map(|m| m.to_string()),
            Ok("1500".into())
        );
    }

    #[test]
    fn too_many_decimals_is_an_error_never_rounded() {
        assert!(matches!(
            Money::parse_positive("60.005", usd()),
            Err(MoneyError::TooManyDecimals { got: 3, max: 2, .. })
        ));
        let clp = Currency::parse("CLP").expect("CLP is known");
        assert!(matches!(
            Money::parse_positive("1.0", clp),
            Err(MoneyError::TooManyDecimals { got: 1, max: 0, .. })
        ));
    }

    #[test]
    fn zero_negative_and_odd_forms_are_refused() {
        assert_eq!(
            Money::parse_positive("0.00", usd()),
            Err(MoneyError::NotPositive)
        );
        assert_eq!(
            Money::parse_positive("-1", usd()),
            Err(MoneyError::NotPositive)
        );
        for bad in ["", "1e3", "+1", "1.", ".5", "1,00", " 1", "0x10", "NaN"] {
            assert!(
                matches!(
                    Money::parse_positive(bad, usd()),
                    Err(MoneyError::NotAnAmount(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Money::parse_positive("100000000000000000", usd()),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn canonical_text_is_exactly_the_display_form() {
        assert!(Money::is_canonical_text("60.00", usd()));
        assert!(!Money::is_canonical_text("60", usd()));
        assert!(!Money::is_canonical_text("060.00", usd()));
        assert!(Money::is_canonical_text("0.01", usd()));
    }

    #[test]
    fn unknown_currency_names_the_code() {
        assert_eq!(
            Currency::parse("XYZ"),
            Err(MoneyError::UnknownCurrency("XYZ".into()))
        );
        assert_eq!(Currency::parse("COP").map(|c| c.minor_units()), Ok(2));
    }
}
