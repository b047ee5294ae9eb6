use std::collections::BTreeMap;

use tollgate_kernel::{Micros, PlanId};

use crate::errors::CatalogError;
use tollgate_kernel::Action;

/// Requests per minute and how many of them may arrive at once, enforced by GCRA.
///
/// A catalogue's plans have `1 <= burst <= per_minute` (checked when it is built). With the
/// default `burst = per_minute`, a client that has been quiet for a minute may send the whole
/// minute's allowance back to back, then one request every 60 / `per_minute` seconds; no
/// 60-second window then holds more than `2 × per_minute − 1` requests (ADR 0009).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests a quiet client may send at once.
    pub burst: u32,
}

impl RateLimit {
    /// The default burst: the whole per-minute allowance, at least 1.
    pub fn with_default_burst(per_minute: u32) -> Self {
        Self {
            per_minute,
            burst: per_minute.max(1),
        }
    }
}

/// The monthly AI-cost budget (what the organisation's calls cost *us*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// At most this much per UTC month.
    Limited(Micros),
    /// No cap: the organisation's spend is bounded only by its quotas.
    Unlimited,
}

impl Budget {
    /// The cap; `None` when unlimited.
    pub fn limit(self) -> Option<Micros> {
        match self {
            Budget::Limited(limit) => Some(limit),
            Budget::Unlimited => None,
        }
    }
}

/// What an organisation may do: its rate limit, daily quotas and monthly budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The configuration id (`free`, `pro`, `enterprise`, …).
    pub id: PlanId,
    /// Display name.
    pub name: String,
    /// Monthly subscription price, in cents; 0 for a free plan.
    pub price_cents: i64,
    /// The Stripe price id it is sold under, if any.
    pub stripe_price_id: Option<String>,
    /// The Stripe metered price its usage is billed under, if any: only a plan with one bills
    /// its calls' usage price (never the default plan).
    pub stripe_metered_price_id: Option<String>,
    /// Its rate limit.
    pub rate: RateLimit,
    /// Calls per UTC day per action; an action absent here is not allowed on the plan.
    pub daily_quota: BTreeMap<Action, u32>,
    /// Its monthly AI-cost budget.
    pub monthly_budget: Budget,
}

impl Plan {
    /// The plan as an organisation with its own monthly spending `cap` has it: the budget is
    /// the lower of the two (an unlimited plan's, the cap).
    pub fn capped(mut self, cap: Option<Micros>) -> Self {
        if let Some(cap) = cap {
            self.monthly_budget = Budget::Limited(match self.monthly_budget {
                Budget::Limited(budget) => budget.min(cap),
                Budget::Unlimited => cap,
            });
        }
        self
    }

    /// Calls of `action` allowed per UTC day; `None` when the plan does not include it.
    pub fn daily_limit(&self, action: Action) -> Option<u32> {
        self.daily_quota.get(&action).copied()
    }
}

/// A plan as configured: every field optional, so that configuration can change one field of a
/// built-in plan or define a new plan in full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSpec {
    /// [`Plan::name`].
    pub name: Option<String>,
    /// [`Plan::price_cents`].
    pub price_cents: Option<i64>,
    /// [`Plan::stripe_price_id`].
    pub stripe_price_id: Option<String>,
    /// [`Plan::stripe_metered_price_id`].
    pub stripe_metered_price_id: Option<String>,
    /// [`RateLimit::per_minute`]; setting it resets the burst to the default unless `burst` is
    /// given too.
    pub requests_per_minute: Option<u32>,
    /// [`RateLimit::burst`].
    pub burst: Option<u32>,
    /// Action name → calls per day. Replaces the built-in quotas as a whole when given.
    pub daily_quota: Option<BTreeMap<String, u32>>,
    /// A limited monthly budget, in micro-dollars.
    pub monthly_budget_micros: Option<i64>,
    /// `true` for [`Budget::Unlimited`]; excludes `monthly_budget_micros`.
    pub unlimited_budget: Option<bool>,
}

/// The plans a deployment sells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCatalog {
    plans: BTreeMap<String, Plan>,
}

impl PlanCatalog {
    /// The plan every catalogue must have: new organisations start on it.
    pub const DEFAULT_PLAN: &'static str = "free";

    /// Free, Pro and Enterprise as shipped.
    pub fn builtin() -> Self {
        let quota = |analysis, comparison, chat| {
            BTreeMap::from([
                (Action::Analysis, analysis),
                (Action::Comparison, comparison),
                (Action::Chat, chat),
            ])
        };
        let plans = [
            Plan {
                id: "free".into(),
                name: "Free".into(),
                price_cents: 0,
                stripe_price_id: None,
                stripe_metered_price_id: None,
                rate: RateLimit::with_default_burst(30),
                daily_quota: quota(5, 2, 50),
                monthly_budget: Budget::Limited(Micros::new(1_000_000)),
            },
            Plan {
                id: "pro".into(),
                name: "Pro".into(),
                price_cents: 2_000,
                stripe_price_id: None,
                stripe_metered_price_id: None,
                rate: RateLimit::with_default_burst(300),
                daily_quota: quota(200, 100, 2_000),
                monthly_budget: Budget::Limited(Micros::new(8_000_000)),
            },
            Plan {
                id: "enterprise".into(),
                name: "Enterprise".into(),
                price_cents: 50_000,
                stripe_price_id: None,
                stripe_metered_price_id: None,
                rate: RateLimit::with_default_burst(3_000),
                daily_quota: quota(10_000, 5_000, 100_000),
                // Unlimited would let one organisation's AI spend outrun its $500: the pricing
                // report flags that. Configure `unlimited_budget = true` to accept it knowingly.
                monthly_budget: Budget::Limited(Micros::new(250_000_000)),
            },
        ];
        Self {
            plans: plans
                .into_iter()
                .map(|p| (p.id.as_str().to_owned(), p))
                .collect(),
        }
    }

    /// The built-in plans with `specs` applied: a spec for a built-in id changes the fields it
    /// names; a spec for a new id must name every field.
    ///
    /// # Errors
    ///
    /// [`CatalogError`] for a missing field, an unknown action, an invalid value (e.g. a burst
    /// above the rate) or a catalogue without [`Self::DEFAULT_PLAN`].
    pub fn from_specs(specs: &BTreeMap<String, PlanSpec>) -> Result<Self, CatalogError> {
        let mut catalog = Self::builtin();
        for (id, spec) in specs {
            let plan = match catalog.plans.remove(id) {
                Some(base) => apply(base, spec)?,
                None => new_plan(id, spec)?,
            };
            validate(&plan)?;
            catalog.plans.insert(id.clone(), plan);
        }
        if !catalog.plans.contains_key(Self::DEFAULT_PLAN) {
            return Err(CatalogError::MissingDefault);
        }
        Ok(catalog)
    }

    /// The plan with this id.
    pub fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.get(id)
    }

    /// Plans in price order.
    pub fn plans(&self) -> Vec<&Plan> {
        let mut plans: Vec<&Plan> = self.plans.values().collect();
        plans.sort_by_key(|p| (p.price_cents, p.id.clone()));
        plans
    }
}

fn apply(mut plan: Plan, spec: &PlanSpec) -> Result<Plan, CatalogError> {
    let id = plan.id.as_str().to_owned();
    if let Some(name) = &spec.name {
        plan.name = name.clone();
    }
    if let Some(price) = spec.price_cents {
        plan.price_cents = price;
    }
    if spec.stripe_price_id.is_some() {
        plan.stripe_price_id = spec.stripe_price_id.clone();
    }
    if spec.stripe_metered_price_id.is_some() {
        plan.stripe_metered_price_id = spec.stripe_metered_price_id.clone();
    }
    if let Some(per_minute) = spec.requests_per_minute {
        plan.rate = RateLimit::with_default_burst(per_minute);
    }
    if let Some(burst) = spec.burst {
        plan.rate.burst = burst;
    }
    if let Some(quota) = &spec.daily_quota {
        plan.daily_quota = parse_quota(&id, quota)?;
    }
    if let Some(budget) = budget_of(&id, spec)? {
        plan.monthly_budget = budget;
    }
    Ok(plan)
}

fn new_plan(id: &str, spec: &PlanSpec) -> Result<Plan, CatalogError> {
    let missing = |field: &'static str| CatalogError::MissingField {
        plan: id.to_owned(),
        field,
    };
    let per_minute = spec
        .requests_per_minute
        .ok_or_else(|| missing("requests_per_minute"))?;
    let mut rate = RateLimit::with_default_burst(per_minute);
    if let Some(burst) = spec.burst {
        rate.burst = burst;
    }
    Ok(Plan {
        id: PlanId::new(id),
        name: spec.name.clone().ok_or_else(|| missing("name"))?,
        price_cents: spec.price_cents.ok_or_else(|| missing("price_cents"))?,
        stripe_price_id: spec.stripe_price_id.clone(),
        stripe_metered_price_id: spec.stripe_metered_price_id.clone(),
        rate,
        daily_quota: parse_quota(
            id,
            spec.daily_quota
                .as_ref()
                .ok_or_else(|| missing("daily_quota"))?,
        )?,
        monthly_budget: budget_of(id, spec)?.ok_or_else(|| missing("monthly_budget_micros"))?,
    })
}

fn budget_of(id: &str, spec: &PlanSpec) -> Result<Option<Budget>, CatalogError> {
    match (spec.unlimited_budget, spec.monthly_budget_micros) {
        (Some(true), Some(_)) => Err(CatalogError::Invalid {
            plan: id.to_owned(),
            reason: "unlimited_budget and monthly_budget_micros exclude each other".into(),
        }),
        (Some(true), None) => Ok(Some(Budget::Unlimited)),
        (_, Some(micros)) => Ok(Some(Budget::Limited(Micros::new(micros)))),
        (_, None) => Ok(None),
    }
}

fn parse_quota(
    id: &str,
    raw: &BTreeMap<String, u32>,
) -> Result<BTreeMap<Action, u32>, CatalogError> {
    raw.iter()
        .map(|(action, limit)| {
            Action::parse(action)
                .map(|a| (a, *limit))
                .ok_or_else(|| CatalogError::UnknownAction {
                    plan: id.to_owned(),
                    action: action.clone(),
                })
        })
        .collect()
}

fn validate(plan: &Plan) -> Result<(), CatalogError> {
    let invalid = |reason: &str| {
        Err(CatalogError::Invalid {
            plan: plan.id.to_string(),
            reason: reason.to_owned(),
        })
    };
    if plan.id.as_str().is_empty()
        || !plan
            .id
            .as_str()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return invalid("plan ids are ASCII letters, digits, '-' and '_'");
    }
    if plan.name.trim().is_empty() {
        return invalid("name must not be empty");
    }
    if plan.price_cents < 0 {
        return invalid("price_cents must not be negative");
    }
    if plan.stripe_metered_price_id.is_some() && plan.id.as_str() == PlanCatalog::DEFAULT_PLAN {
        return invalid(
            "the default plan is never billed for usage: remove stripe_metered_price_id",
        );
    }
    if plan.rate.per_minute == 0 || plan.rate.burst == 0 {
        return invalid("requests_per_minute and burst must be positive");
    }
    if plan.rate.burst > plan.rate.per_minute {
        // A burst above the rate would let a quiet client exceed the advertised per-minute
        // allowance in one instant, and keep a key's state alive for more than a minute.
        return Err(CatalogError::Invalid {
            plan: plan.id.to_string(),
            reason: format!(
                "burst ({}) must not exceed requests_per_minute ({}); leave burst out for the \
                 default, the whole per-minute allowance",
                plan.rate.burst, plan.rate.per_minute
            ),
        });
    }
    if let Budget::Limited(limit) = plan.monthly_budget
        && limit < Micros::ZERO
    {
        return invalid("monthly_budget_micros must not be negative");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_free_pro_enterprise_in_price_order() {
        let catalog = PlanCatalog::builtin();
        let ids: Vec<&str> = catalog.plans().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["free", "pro", "enterprise"]);
        let free = catalog.get("free").unwrap();
        assert_eq!(
            free.rate,
            RateLimit {
                per_minute: 30,
                burst: 30
            },
            "a quiet client may send the whole minute's allowance at once"
        );
        for plan in catalog.plans() {
            assert_eq!(plan.rate.burst, plan.rate.per_minute, "{}", plan.id);
        }
        assert_eq!(free.daily_limit(Action::Analysis), Some(5));
        assert_eq!(free.monthly_budget, Budget::Limited(Micros::new(1_000_000)));
        assert_eq!(
            catalog.get("enterprise").unwrap().monthly_budget,
            Budget::Limited(Micros::new(250_000_000))
        );
    }

    #[test]
    fn the_default_plan_cannot_be_billed_for_usage() {
        let specs = BTreeMap::from([(
            "free".to_owned(),
            PlanSpec {
                stripe_metered_price_id: Some("price_usage".into()),
                ..PlanSpec::default()
            },
        )]);
        assert!(matches!(
            PlanCatalog::from_specs(&specs),
            Err(CatalogError::Invalid { plan, .. }) if plan == "free"
        ));
        let pro = BTreeMap::from([(
            "pro".to_owned(),
            PlanSpec {
                stripe_metered_price_id: Some("price_usage".into()),
                ..PlanSpec::default()
            },
        )]);
        let catalog = PlanCatalog::from_specs(&pro).unwrap();
        assert_eq!(
            catalog
                .get("pro")
                .unwrap()
                .stripe_metered_price_id
                .as_deref(),
            Some("price_usage")
        );
    }

    #[test]
    fn a_spending_cap_lowers_the_budget_and_never_raises_it() {
        let free = PlanCatalog::builtin().get("free").unwrap().clone();
        assert_eq!(
            free.clone()
                .capped(Some(Micros::new(250_000)))
                .monthly_budget,
            Budget::Limited(Micros::new(250_000))
        );
        assert_eq!(
            free.clone()
                .capped(Some(Micros::new(5_000_000)))
                .monthly_budget,
            Budget::Limited(Micros::new(1_000_000)),
            "the plan's budget stays the ceiling"
        );
        assert_eq!(free.clone().capped(None), free);
        let mut unlimited = free;
        unlimited.monthly_budget = Budget::Unlimited;
        assert_eq!(
            unlimited.capped(Some(Micros::new(7))).monthly_budget,
            Budget::Limited(Micros::new(7))
        );
    }

    #[test]
    fn specs_change_named_fields_of_builtin_plans() {
        let specs = BTreeMap::from([(
            "pro".to_owned(),
            PlanSpec {
                requests_per_minute: Some(120),
                stripe_price_id: Some("price_123".into()),
                daily_quota: Some(BTreeMap::from([("chat".to_owned(), 10)])),
                ..PlanSpec::default()
            },
        )]);
        let catalog = PlanCatalog::from_specs(&specs).unwrap();
        let pro = catalog.get("pro").unwrap();
        assert_eq!(
            pro.rate,
            RateLimit {
                per_minute: 120,
                burst: 120
            },
            "a new rate brings its default burst"
        );
        assert_eq!(pro.stripe_price_id.as_deref(), Some("price_123"));
        assert_eq!(pro.name, "Pro", "unnamed fields keep their built-in value");
        assert_eq!(pro.daily_limit(Action::Chat), Some(10));
        assert_eq!(
            pro.daily_limit(Action::Analysis),
            None,
            "a quota table replaces the built-in one"
        );
    }

    #[test]
    fn new_plans_must_be_complete() {
        let partial = BTreeMap::from([(
            "team".to_owned(),
            PlanSpec {
                name: Some("Team".into()),
                ..PlanSpec::default()
            },
        )]);
        assert!(matches!(
            PlanCatalog::from_specs(&partial),
            Err(CatalogError::MissingField {
                field: "requests_per_minute",
                ..
            })
        ));
        let full = BTreeMap::from([(
            "team".to_owned(),
            PlanSpec {
                name: Some("Team".into()),
                price_cents: Some(9_900),
                requests_per_minute: Some(600),
                burst: Some(50),
                daily_quota: Some(BTreeMap::from([("analysis".to_owned(), 1_000)])),
                unlimited_budget: Some(true),
                ..PlanSpec::default()
            },
        )]);
        let catalog = PlanCatalog::from_specs(&full).unwrap();
        assert_eq!(
            catalog.get("team").unwrap().rate,
            RateLimit {
                per_minute: 600,
                burst: 50
            }
        );
    }

    #[test]
    fn a_configured_burst_may_lower_the_default_but_not_exceed_the_rate() {
        let with = |requests_per_minute, burst| {
            PlanCatalog::from_specs(&BTreeMap::from([(
                "free".to_owned(),
                PlanSpec {
                    requests_per_minute,
                    burst,
                    ..PlanSpec::default()
                },
            )]))
            .map(|catalog| catalog.get("free").unwrap().rate)
        };
        assert_eq!(
            with(None, Some(5)),
            Ok(RateLimit {
                per_minute: 30,
                burst: 5
            })
        );
        assert_eq!(
            with(Some(60), Some(60)),
            Ok(RateLimit {
                per_minute: 60,
                burst: 60
            }),
            "a burst equal to the rate is the default, written out"
        );
        assert_eq!(
            with(Some(10), None),
            Ok(RateLimit {
                per_minute: 10,
                burst: 10
            })
        );
        for (rate, burst) in [(None, Some(31)), (Some(10), Some(11)), (Some(1), Some(2))] {
            let error = with(rate, burst).unwrap_err().to_string();
            assert!(
                error.contains("free")
                    && error.contains("burst")
                    && error.contains("must not exceed requests_per_minute"),
                "{error}"
            );
        }
        assert!(with(None, Some(0)).is_err());
        let new_plan = BTreeMap::from([(
            "team".to_owned(),
            PlanSpec {
                name: Some("Team".into()),
                price_cents: Some(0),
                requests_per_minute: Some(100),
                burst: Some(101),
                daily_quota: Some(BTreeMap::new()),
                monthly_budget_micros: Some(0),
                ..PlanSpec::default()
            },
        )]);
        assert!(
            PlanCatalog::from_specs(&new_plan)
                .unwrap_err()
                .to_string()
                .contains("team")
        );
    }

    #[test]
    fn invalid_catalogs_are_refused_with_the_plan_named() {
        let cases = [
            PlanSpec {
                requests_per_minute: Some(0),
                ..PlanSpec::default()
            },
            PlanSpec {
                price_cents: Some(-1),
                ..PlanSpec::default()
            },
            PlanSpec {
                daily_quota: Some(BTreeMap::from([("dance".to_owned(), 1)])),
                ..PlanSpec::default()
            },
            PlanSpec {
                monthly_budget_micros: Some(-5),
                ..PlanSpec::default()
            },
            PlanSpec {
                monthly_budget_micros: Some(5),
                unlimited_budget: Some(true),
                ..PlanSpec::default()
            },
        ];
        for spec in cases {
            let error =
                PlanCatalog::from_specs(&BTreeMap::from([("free".to_owned(), spec.clone())]))
                    .unwrap_err();
            assert!(error.to_string().contains("free"), "{error} for {spec:?}");
        }
        let bad_id = BTreeMap::from([(
            "bad id!".to_owned(),
            PlanSpec {
                name: Some("x".into()),
                price_cents: Some(0),
                requests_per_minute: Some(1),
                daily_quota: Some(BTreeMap::new()),
                monthly_budget_micros: Some(0),
                ..PlanSpec::default()
            },
        )]);
        assert!(PlanCatalog::from_specs(&bad_id).is_err());
    }
}
