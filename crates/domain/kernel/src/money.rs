use std::fmt;

/// An amount of money in micro-dollars (1 USD = 1 000 000).
///
/// Integers, never floating point: every sum is exact and every overflow is an error rather than
/// a wrap. Negative amounts exist (refunds, corrections) but are rare, hence `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Micros(i64);

/// Why an arithmetic operation on [`Micros`] has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The result does not fit in an `i64` of micro-dollars.
    #[error("amount out of range")]
    Overflow,
    /// [`Micros::mul_div_ceil`] was asked to divide by zero.
    #[error("division by zero")]
    DivisionByZero,
}

impl Micros {
    /// No money.
    pub const ZERO: Micros = Micros(0);
    /// Micro-dollars in one dollar.
    pub const PER_DOLLAR: i64 = 1_000_000;
    /// Micro-dollars in one cent.
    pub const PER_CENT: i64 = 10_000;

    /// `micros` micro-dollars.
    pub const fn new(micros: i64) -> Self {
        Self(micros)
    }

    /// The amount in micro-dollars.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// `cents` cents, exactly.
    ///
    /// # Errors
    ///
    /// [`MoneyError::Overflow`] when the amount does not fit.
    pub fn from_cents(cents: i64) -> Result<Self, MoneyError> {
        cents
            .checked_mul(Self::PER_CENT)
            .map(Self)
            .ok_or(MoneyError::Overflow)
    }

    /// `self + other`.
    ///
    /// # Errors
    ///
    /// [`MoneyError::Overflow`] instead of wrapping.
    pub fn checked_add(self, other: Micros) -> Result<Micros, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Micros)
            .ok_or(MoneyError::Overflow)
    }

    /// `self − other`.
    ///
    /// # Errors
    ///
    /// [`MoneyError::Overflow`] instead of wrapping.
    pub fn checked_sub(self, other: Micros) -> Result<Micros, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(Micros)
            .ok_or(MoneyError::Overflow)
    }

    /// `self × factor`, e.g. a unit price times a count.
    ///
    /// # Errors
    ///
    /// [`MoneyError::Overflow`] instead of wrapping.
    pub fn checked_mul(self, factor: i64) -> Result<Micros, MoneyError> {
        self.0
            .checked_mul(factor)
            .map(Micros)
            .ok_or(MoneyError::Overflow)
    }

    /// `self × numerator ÷ denominator`, rounded towards +∞.
    ///
    /// Rounding up is the rule for every cost and price we compute: we would rather over-count a
    /// cost or over-charge by one micro-dollar than lose money on every call. The product is taken
    /// in 128 bits, so only the result can overflow.
    ///
    /// # Errors
    ///
    /// [`MoneyError::DivisionByZero`] when `denominator` is 0; [`MoneyError::Overflow`] when the
    /// result does not fit in an `i64`.
    pub fn mul_div_ceil(self, numerator: i64, denominator: i64) -> Result<Micros, MoneyError> {
        if denominator == 0 {
            return Err(MoneyError::DivisionByZero);
        }
        let product = i128::from(self.0) * i128::from(numerator);
        let quotient = div_ceil_i128(product, i128::from(denominator));
        i64::try_from(quotient)
            .map(Micros)
            .map_err(|_| MoneyError::Overflow)
    }
}

fn div_ceil_i128(a: i128, b: i128) -> i128 {
    let q = a / b;
    let r = a % b;
    if r != 0 && ((r > 0) == (b > 0)) {
        q + 1
    } else {
        q
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}${}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cents_convert_exactly() {
        assert_eq!(Micros::from_cents(2000).unwrap(), Micros::new(20_000_000));
        assert_eq!(Micros::from_cents(i64::MAX), Err(MoneyError::Overflow));
    }

    #[test]
    fn arithmetic_overflow_is_an_error_not_a_wrap() {
        assert_eq!(
            Micros::new(i64::MAX).checked_add(Micros::new(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Micros::new(i64::MIN).checked_sub(Micros::new(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Micros::new(i64::MAX).checked_mul(2),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn mul_div_rounds_up_never_down() {
        // 1 token at $0.15 per million tokens is 0.15 micros: charged as 1.
        assert_eq!(
            Micros::new(150_000).mul_div_ceil(1, 1_000_000).unwrap(),
            Micros::new(1)
        );
        // Exact results stay exact.
        assert_eq!(
            Micros::new(150_000)
                .mul_div_ceil(2_000_000, 1_000_000)
                .unwrap(),
            Micros::new(300_000)
        );
        assert_eq!(Micros::new(0).mul_div_ceil(5, 7).unwrap(), Micros::ZERO);
        assert_eq!(
            Micros::new(10).mul_div_ceil(1, 0),
            Err(MoneyError::DivisionByZero)
        );
    }

    #[test]
    fn display_is_dollars() {
        assert_eq!(Micros::new(1_234_567).to_string(), "$1.234567");
        assert_eq!(Micros::new(-5).to_string(), "-$0.000005");
    }

    proptest! {
        #[test]
        fn mul_div_ceil_is_the_smallest_upper_bound(
            amount in 0i64..1_000_000_000_000,
            numerator in 0i64..10_000_000,
            denominator in 1i64..10_000_000,
        ) {
            let result = Micros::new(amount).mul_div_ceil(numerator, denominator).unwrap().get();
            let exact = i128::from(amount) * i128::from(numerator);
            prop_assert!(i128::from(result) * i128::from(denominator) >= exact);
            prop_assert!(i128::from(result - 1) * i128::from(denominator) < exact || result == 0);
        }
    }
}
