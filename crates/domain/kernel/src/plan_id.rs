/// A plan's id as configuration names it: `free`, `pro`, `enterprise`, or the key of a
/// `[plans.<id>]` section. Organisations, prices and reports refer to plans by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlanId(String);

impl PlanId {
    /// The plan every new organisation starts on.
    pub const FREE: &'static str = "free";

    /// The plan with this id (whether it is configured is the plan catalogue's business).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The free plan.
    pub fn free() -> Self {
        Self::new(Self::FREE)
    }

    /// The id as configuration, storage and the API write it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PlanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PlanId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for PlanId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl PartialEq<str> for PlanId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PlanId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::PlanId;

    #[test]
    fn a_plan_id_reads_and_compares_as_its_configuration_name() {
        let pro = PlanId::from("pro");
        assert_eq!(pro.as_str(), "pro");
        assert_eq!(pro.to_string(), "pro");
        assert!(pro == "pro");
        assert_eq!(PlanId::free(), PlanId::new(String::from("free")));
    }
}
