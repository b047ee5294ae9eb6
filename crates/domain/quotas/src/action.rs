/// A metered kind of call; each has its own daily quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Analysis,
    Comparison,
    Chat,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Analysis, Action::Comparison, Action::Chat];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Analysis => "analysis",
            Action::Comparison => "comparison",
            Action::Chat => "chat",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
