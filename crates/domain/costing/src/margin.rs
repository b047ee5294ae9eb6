use tollgate_kernel::Micros;

/// A target margin on price: price = cost ÷ (1 − margin), rounded up, so that the margin is at
/// least the target on every call. Held in basis points (1 % = 100) to stay in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Margin {
    basis_points: u32,
}

/// Why a text is not a [`Margin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarginError {
    /// Not a percentage from 0 to below 100 with at most two decimals.
    #[error(
        "a margin is a decimal percentage from 0 to below 100 with at most two decimals, e.g. \"40\" or \"2.5\""
    )]
    Invalid,
}

impl Margin {
    /// The target margin on price when none is configured: 40 %, i.e. a call is priced at its
    /// cost ÷ 0.6. What is left pays the payment fee, the infrastructure and the business.
    pub const DEFAULT_TARGET: Self = Self::from_basis_points(4_000);

    /// A margin of `basis_points` (1 % = 100); for constants, checked at compile time.
    ///
    /// # Panics
    ///
    /// At 10 000 (100 %) or more, when evaluated: no price keeps such a margin.
    pub(crate) const fn from_basis_points(basis_points: u32) -> Self {
        assert!(basis_points < 10_000, "a margin is below 100 %");
        Self { basis_points }
    }

    /// Parses a percentage like `"40"` or `"12.5"` (no floating point involved).
    ///
    /// # Errors
    ///
    /// [`MarginError::Invalid`] for anything else, and for 100 % or more (no price keeps it).
    pub fn parse_percent(raw: &str) -> Result<Self, MarginError> {
        match parse_basis_points(raw) {
            Some(basis_points) if basis_points < 10_000 => Ok(Self { basis_points }),
            _ => Err(MarginError::Invalid),
        }
    }

    /// The margin in basis points (1 % = 100).
    pub const fn basis_points(self) -> u32 {
        self.basis_points
    }

    /// The price that keeps this margin on `cost`; never below `cost`.
    pub fn price_for(self, cost: Micros) -> Micros {
        cost.mul_div_ceil(10_000, i64::from(10_000 - self.basis_points))
            .unwrap_or(Micros::new(i64::MAX))
    }
}

/// A decimal percentage with at most two decimals, in basis points (`"2.9"` → 290).
pub(crate) fn parse_basis_points(raw: &str) -> Option<u32> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let fraction: u32 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_percentages_exactly() {
        assert_eq!(Margin::parse_percent("40").unwrap().basis_points(), 4_000);
        assert_eq!(Margin::parse_percent("2.9").unwrap().basis_points(), 290);
        assert_eq!(Margin::parse_percent("0.05").unwrap().basis_points(), 5);
        for bad in ["", "100", "-1", "1.234", "abc", "1e2", ".5"] {
            assert!(Margin::parse_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_target_is_forty_percent() {
        assert_eq!(Margin::DEFAULT_TARGET, Margin::parse_percent("40").unwrap());
    }

    #[test]
    fn price_keeps_at_least_the_margin_and_never_undercuts_cost() {
        let forty = Margin::parse_percent("40").unwrap();
        assert_eq!(forty.price_for(Micros::new(600)), Micros::new(1_000));
        assert_eq!(
            forty.price_for(Micros::new(1)),
            Micros::new(2),
            "rounded up"
        );
        let zero = Margin::parse_percent("0").unwrap();
        assert_eq!(zero.price_for(Micros::new(123)), Micros::new(123));
        for cost in [0, 1, 7, 999, 1_000_003] {
            let price = forty.price_for(Micros::new(cost)).get();
            assert!(price >= cost);
            assert!(
                (price - cost) * 10_000 >= price * 4_000,
                "margin kept for cost {cost}"
            );
        }
    }
}
