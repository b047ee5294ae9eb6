/// A metered kind of call; each has its own daily quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `POST /api/v1/analyses`.
    Analysis,
    /// `POST /api/v1/comparisons`.
    Comparison,
    /// `POST /v1/chat/completions`.
    Chat,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 3] = [Action::Analysis, Action::Comparison, Action::Chat];

    /// The name in configuration, the API and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Analysis => "analysis",
            Action::Comparison => "comparison",
            Action::Chat => "chat",
        }
    }

    /// The action named `raw` as [`as_str`](Self::as_str) writes it; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
