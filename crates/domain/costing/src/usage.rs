/// Tokens a call used, as the provider reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// All prompt tokens, cached ones included (OpenAI's `prompt_tokens`).
    pub input_tokens: u64,
    /// The part of `input_tokens` served from the prompt cache (billed at the cached rate).
    pub cached_input_tokens: u64,
    /// Generated tokens, reasoning tokens included (OpenAI's `completion_tokens`).
    pub output_tokens: u64,
}
