use std::collections::BTreeMap;

use tollgate_kernel::Micros;

use crate::usage::TokenUsage;

/// When the built-in prices were taken from OpenAI's published price list. They were copied, not
/// fetched: check them against OpenAI's current prices (and override in `[models.*]`) before
/// relying on the cost figures.
pub const PRICES_AS_OF: &str = "2025-08-07";

const PER_MILLION: i128 = 1_000_000;

/// Prices of one model in micro-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    /// Input tokens not served from the prompt cache.
    pub input_per_million: Micros,
    /// Input tokens served from the prompt cache.
    pub cached_input_per_million: Micros,
    /// Output tokens (reasoning tokens included).
    pub output_per_million: Micros,
}

/// A configured price: every field optional so that configuration can change one price of a
/// built-in model or add a model in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PriceSpec {
    /// [`ModelPrice::input_per_million`]; `None` keeps the built-in price.
    pub input_per_million_micros: Option<i64>,
    /// [`ModelPrice::cached_input_per_million`]; `None` keeps the built-in price, or for a new
    /// model takes the input price.
    pub cached_input_per_million_micros: Option<i64>,
    /// [`ModelPrice::output_per_million`]; `None` keeps the built-in price.
    pub output_per_million_micros: Option<i64>,
}

/// Why a cost could not be computed or a catalogue built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// The model has no price: it is refused, never priced at zero.
    #[error("model {0:?} is not in the price catalogue")]
    UnknownModel(String),
    /// A configured price is unusable.
    #[error("model {model}: {reason}")]
    InvalidPrice {
        /// The model it was configured for.
        model: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The amount does not fit in an `i64` of micro-dollars.
    #[error("cost out of range")]
    Overflow,
}

/// Token prices per model: what a call costs us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceCatalog {
    models: BTreeMap<String, ModelPrice>,
}

fn price(input: i64, cached: i64, output: i64) -> ModelPrice {
    ModelPrice {
        input_per_million: Micros::new(input),
        cached_input_per_million: Micros::new(cached),
        output_per_million: Micros::new(output),
    }
}

impl PriceCatalog {
    /// OpenAI's chat models at their published standard prices (see [`PRICES_AS_OF`]).
    pub fn builtin() -> Self {
        let models = [
            ("gpt-4o", price(2_500_000, 1_250_000, 10_000_000)),
            ("gpt-4o-mini", price(150_000, 75_000, 600_000)),
            ("gpt-4.1", price(2_000_000, 500_000, 8_000_000)),
            ("gpt-4.1-mini", price(400_000, 100_000, 1_600_000)),
            ("gpt-4.1-nano", price(100_000, 25_000, 400_000)),
            ("o3-mini", price(1_100_000, 550_000, 4_400_000)),
            ("o4-mini", price(1_100_000, 275_000, 4_400_000)),
            ("o3", price(2_000_000, 500_000, 8_000_000)),
            ("gpt-5", price(1_250_000, 125_000, 10_000_000)),
            ("gpt-5-mini", price(250_000, 25_000, 2_000_000)),
            ("gpt-5-nano", price(50_000, 5_000, 400_000)),
        ];
        Self {
            models: models.into_iter().map(|(m, p)| (m.to_owned(), p)).collect(),
        }
    }

    /// The built-in catalogue with `specs` applied; a new model must name input and output
    /// prices (cached input defaults to the input price: never cheaper than we know).
    ///
    /// # Errors
    ///
    /// [`CostError::InvalidPrice`] for a new model without an input or output price, a negative
    /// price or an empty model name.
    pub fn from_specs(specs: &BTreeMap<String, PriceSpec>) -> Result<Self, CostError> {
        let mut catalog = Self::builtin();
        for (model, spec) in specs {
            let invalid = |reason| CostError::InvalidPrice {
                model: model.clone(),
                reason,
            };
            let base = catalog.models.get(model).copied();
            let input = spec
                .input_per_million_micros
                .or(base.map(|b| b.input_per_million.get()))
                .ok_or_else(|| {
                    invalid("input_per_million_micros is required for a model that is not built in")
                })?;
            let output = spec
                .output_per_million_micros
                .or(base.map(|b| b.output_per_million.get()))
                .ok_or_else(|| {
                    invalid(
                        "output_per_million_micros is required for a model that is not built in",
                    )
                })?;
            let cached = spec
                .cached_input_per_million_micros
                .or(base.map(|b| b.cached_input_per_million.get()))
                .unwrap_or(input);
            if input < 0 || output < 0 || cached < 0 {
                return Err(invalid("prices must not be negative"));
            }
            if model.trim().is_empty() {
                return Err(invalid("model name must not be empty"));
            }
            catalog
                .models
                .insert(model.clone(), price(input, cached, output));
        }
        Ok(catalog)
    }

    /// The prices of `model`.
    ///
    /// # Errors
    ///
    /// [`CostError::UnknownModel`] when the catalogue has none.
    pub fn price(&self, model: &str) -> Result<ModelPrice, CostError> {
        self.models
            .get(model)
            .copied()
            .ok_or_else(|| CostError::UnknownModel(model.to_owned()))
    }

    /// Every priced model with its prices, by name.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models.iter().map(|(m, p)| (m.as_str(), p))
    }

    /// What `usage` of `model` cost, rounded up to the micro-dollar. Cached tokens beyond the
    /// input count are ignored.
    ///
    /// # Errors
    ///
    /// [`CostError::UnknownModel`]; [`CostError::Overflow`] when the cost does not fit.
    pub fn cost(&self, model: &str, usage: TokenUsage) -> Result<Micros, CostError> {
        let price = self.price(model)?;
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let uncached = usage.input_tokens - cached;
        let numerator = i128::from(uncached) * i128::from(price.input_per_million.get())
            + i128::from(cached) * i128::from(price.cached_input_per_million.get())
            + i128::from(usage.output_tokens) * i128::from(price.output_per_million.get());
        let micros =
            numerator.div_euclid(PER_MILLION) + i128::from(numerator.rem_euclid(PER_MILLION) != 0);
        i64::try_from(micros)
            .map(Micros::new)
            .map_err(|_| CostError::Overflow)
    }

    /// The most a call can cost: every input token uncached, and the full output allowance.
    ///
    /// # Errors
    ///
    /// As [`cost`](Self::cost).
    pub fn worst_case(
        &self,
        model: &str,
        input_tokens: u64,
        max_output_tokens: u64,
    ) -> Result<Micros, CostError> {
        self.cost(
            model,
            TokenUsage {
                input_tokens,
                cached_input_tokens: 0,
                output_tokens: max_output_tokens,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cost_is_exact_and_rounded_up() {
        let catalog = PriceCatalog::builtin();
        // 1 000 input + 500 output tokens of gpt-4o-mini: 150 + 300 = 450 micros exactly.
        let usage = TokenUsage {
            input_tokens: 1_000,
            cached_input_tokens: 0,
            output_tokens: 500,
        };
        assert_eq!(
            catalog.cost("gpt-4o-mini", usage).unwrap(),
            Micros::new(450)
        );
        // One input token is 0.15 micros: charged as 1.
        let one = TokenUsage {
            input_tokens: 1,
            ..TokenUsage::default()
        };
        assert_eq!(catalog.cost("gpt-4o-mini", one).unwrap(), Micros::new(1));
        assert_eq!(
            catalog.cost("gpt-4o-mini", TokenUsage::default()).unwrap(),
            Micros::ZERO
        );
    }

    #[test]
    fn cached_input_is_billed_at_the_cached_rate() {
        let catalog = PriceCatalog::builtin();
        let usage = TokenUsage {
            input_tokens: 2_000_000,
            cached_input_tokens: 1_000_000,
            output_tokens: 0,
        };
        // 1M uncached at $2.50 + 1M cached at $1.25.
        assert_eq!(
            catalog.cost("gpt-4o", usage).unwrap(),
            Micros::new(3_750_000)
        );
        // Cached more than input (a misreport) never makes the call cheaper than all-cached.
        let odd = TokenUsage {
            input_tokens: 10,
            cached_input_tokens: 50,
            output_tokens: 0,
        };
        assert!(catalog.cost("gpt-4o", odd).is_ok());
    }

    #[test]
    fn unknown_models_are_refused_not_free() {
        let catalog = PriceCatalog::builtin();
        assert_eq!(
            catalog.cost("gpt-imaginary", TokenUsage::default()),
            Err(CostError::UnknownModel("gpt-imaginary".into()))
        );
    }

    #[test]
    fn worst_case_assumes_no_cache_and_full_output() {
        let catalog = PriceCatalog::builtin();
        assert_eq!(
            catalog.worst_case("gpt-4o-mini", 1_000, 1_000).unwrap(),
            Micros::new(750)
        );
    }

    #[test]
    fn specs_override_and_extend() {
        let specs = BTreeMap::from([
            (
                "gpt-4o-mini".to_owned(),
                PriceSpec {
                    output_per_million_micros: Some(700_000),
                    ..PriceSpec::default()
                },
            ),
            (
                "local-llama".to_owned(),
                PriceSpec {
                    input_per_million_micros: Some(10),
                    output_per_million_micros: Some(20),
                    ..PriceSpec::default()
                },
            ),
        ]);
        let catalog = PriceCatalog::from_specs(&specs).unwrap();
        let mini = catalog.price("gpt-4o-mini").unwrap();
        assert_eq!(mini.output_per_million, Micros::new(700_000));
        assert_eq!(mini.input_per_million, Micros::new(150_000));
        assert_eq!(
            catalog
                .price("local-llama")
                .unwrap()
                .cached_input_per_million,
            Micros::new(10)
        );
        let incomplete = BTreeMap::from([(
            "new".to_owned(),
            PriceSpec {
                input_per_million_micros: Some(1),
                ..PriceSpec::default()
            },
        )]);
        assert!(PriceCatalog::from_specs(&incomplete).is_err());
        let negative = BTreeMap::from([(
            "gpt-4o".to_owned(),
            PriceSpec {
                input_per_million_micros: Some(-1),
                ..PriceSpec::default()
            },
        )]);
        assert!(PriceCatalog::from_specs(&negative).is_err());
    }

    proptest! {
        #[test]
        fn cost_never_undercounts_and_overcounts_by_less_than_one_micro(
            input in 0u64..50_000_000,
            cached_share in 0u64..=100,
            output in 0u64..50_000_000,
        ) {
            let catalog = PriceCatalog::builtin();
            let cached = input * cached_share / 100;
            let usage = TokenUsage { input_tokens: input, cached_input_tokens: cached, output_tokens: output };
            let cost = i128::from(catalog.cost("gpt-4.1", usage).unwrap().get());
            let exact_times_million = i128::from(input - cached) * 2_000_000 + i128::from(cached) * 500_000 + i128::from(output) * 8_000_000;
            prop_assert!(cost * 1_000_000 >= exact_times_million);
            prop_assert!((cost - 1) * 1_000_000 < exact_times_million || cost == 0);
        }
    }
}
