use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;
use tollgate_costing::TokenCounter;

/// Counts tokens with OpenAI's own encodings: `o200k_base` for the GPT-4o, GPT-4.1, GPT-5 and
/// o-series models, `cl100k_base` for older ones. The encodings are loaded once, on first use.
#[derive(Debug, Default, Clone, Copy)]
pub struct TiktokenCounter;

fn o200k() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| {
        tiktoken_rs::o200k_base().expect("the o200k_base encoding ships with tiktoken-rs")
    })
}

fn cl100k() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| {
        tiktoken_rs::cl100k_base().expect("the cl100k_base encoding ships with tiktoken-rs")
    })
}

fn uses_cl100k(model: &str) -> bool {
    model.starts_with("gpt-4-") || model == "gpt-4" || model.starts_with("gpt-3.5")
}

impl TokenCounter for TiktokenCounter {
    fn count(&self, model: &str, text: &str) -> u64 {
        let bpe = if uses_cl100k(model) {
            cl100k()
        } else {
            o200k()
        };
        bpe.encode_with_special_tokens(text).len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_the_model_encoding() {
        let counter = TiktokenCounter;
        assert_eq!(counter.count("gpt-4o", ""), 0);
        assert_eq!(counter.count("gpt-4o", "hello world"), 2);
        let long = "the quick brown fox jumps over the lazy dog ".repeat(100);
        let tokens = counter.count("gpt-4o-mini", &long);
        assert!((900..=1_000).contains(&tokens), "{tokens}");
        assert!(counter.count("gpt-3.5-turbo", "hello world") > 0);
    }
}
