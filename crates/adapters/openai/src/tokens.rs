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

    /// Admission bounds a prompt's tokens by its bytes (tollgate_costing::Prompt): no token of
    /// a byte-level encoding is shorter than a byte, special tokens included.
    #[test]
    fn no_text_has_more_tokens_than_bytes() {
        let texts = [
            "a b c d e f g h i j k l m n o p".to_owned(),
            " \n\t ".repeat(50),
            "<|endoftext|><|endofprompt|>".repeat(5),
            "日本語のテキスト、絵文字 🎉🎉🎉 und Umlaute äöü".to_owned(),
            (0u8..=127).map(char::from).collect::<String>(),
            "{\"role\":\"user\",\"content\":\"0123456789\"}".repeat(20),
        ];
        for model in ["gpt-4o-mini", "gpt-3.5-turbo"] {
            for text in &texts {
                let tokens = TiktokenCounter.count(model, text);
                assert!(
                    tokens <= text.len() as u64,
                    "{model}: {tokens} > {} bytes",
                    text.len()
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_has_no_more_tokens_than_bytes(text in "\\PC{0,200}") {
            let tokens = TiktokenCounter.count("gpt-4o", &text);
            proptest::prop_assert!(tokens <= text.len() as u64);
        }
    }
}
