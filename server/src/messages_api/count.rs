//! `count_tokens`: an estimate of a request's prompt tokens, marked as one. No
//! tokenizer is run and no provider is asked: the candidates behind a caller may
//! each count differently, so an exact count of one would still be a guess for
//! the others.
//!
//! Pure: domain types in, a number out.

use crate::domain::{Message, Tool};

/// Bytes of text per estimated token.
const BYTES_PER_TOKEN: usize = 4;
/// Estimated tokens of one image (Anthropic's figure for about a megapixel).
const TOKENS_PER_IMAGE: usize = 1600;
/// Estimated tokens of each message's framing.
const TOKENS_PER_MESSAGE: usize = 4;

/// How [`estimate_tokens`] counts, as `count_tokens` reports it.
pub(crate) const ESTIMATE_METHOD: &str = "an estimate, not a tokenizer count: 4 bytes of text, tool \
     call or tool definition per token, 1600 tokens per image, 4 per message";

/// An estimate of a request's prompt tokens (see [`ESTIMATE_METHOD`]).
pub(crate) fn estimate_tokens(messages: &[Message], tools: &[Tool]) -> u32 {
    let text: usize = messages.iter().map(Message::text_bytes).sum::<usize>()
        + tools
            .iter()
            .map(|t| {
                t.name.len()
                    + t.description.as_ref().map_or(0, String::len)
                    + t.parameters.as_ref().map_or(0, |p| p.get().len())
            })
            .sum::<usize>();
    let images: usize = messages.iter().map(|m| m.images().count()).sum();
    let tokens = text.div_ceil(BYTES_PER_TOKEN)
        + images * TOKENS_PER_IMAGE
        + messages.len() * TOKENS_PER_MESSAGE;
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Image, ImageSource, JsonObject, Part, Role};

    #[test]
    fn the_estimate_counts_text_images_tools_and_messages() {
        let message = Message {
            role: Role::User,
            parts: vec![
                Part::text("abcdefgh"),
                Part::Image(Image {
                    source: ImageSource::Url {
                        url: "https://x.test/a.png".into(),
                    },
                    detail: None,
                }),
            ],
            tool_calls: Vec::new(),
            tool_call_id: None,
        };
        let tool = Tool {
            name: "abcd".into(),
            description: None,
            parameters: Some(JsonObject::parse("{}".into()).unwrap()),
            strict: None,
        };
        // 8 + 4 + 2 bytes -> 4 tokens, one image, one message.
        assert_eq!(estimate_tokens(&[message], &[tool]), 4 + 1600 + 4);
        assert_eq!(estimate_tokens(&[], &[]), 0);
    }
}
