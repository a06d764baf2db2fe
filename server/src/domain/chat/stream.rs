//! Stream events a provider yields, and the builder that assembles them into an answer.

use super::*;

/// One piece of a streamed tool call. The first piece of a call carries its id and
/// name; later pieces of the same `index` add to its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// Position of the call in the answer (0, 1, ...), stable across its pieces.
    pub index: u32,
    /// Id, on the first piece.
    pub id: Option<String>,
    /// Function name, on the first piece.
    pub name: Option<String>,
    /// Next piece of the arguments' JSON text (may be empty).
    pub arguments: String,
}

/// Token counts a stream reports; each may come alone (Anthropic sends input and
/// output in different events). A later value replaces an earlier one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageDelta {
    /// Prompt tokens.
    pub input: Option<u32>,
    /// Generated tokens.
    pub output: Option<u32>,
    /// Prompt tokens read from cache.
    pub cached_input: Option<u32>,
    /// Reasoning tokens.
    pub reasoning: Option<u32>,
}

impl Usage {
    /// Applies the counts a stream reported.
    pub fn apply(&mut self, delta: UsageDelta) {
        let set = |slot: &mut u32, v: Option<u32>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut self.input_tokens, delta.input);
        set(&mut self.output_tokens, delta.output);
        set(&mut self.cached_input_tokens, delta.cached_input);
        set(&mut self.reasoning_tokens, delta.reasoning);
    }
}

/// What a provider stream says, normalised across wire formats. A provider
/// translation turns each of its events into zero or more of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A piece of generated text.
    Text(String),
    /// A piece of a tool call.
    ToolCall(ToolCallDelta),
    /// The model that answers.
    Model(String),
    /// Token counts.
    Usage(UsageDelta),
    /// Why generation stopped.
    Finish(FinishReason),
    /// The provider's end of stream (`[DONE]`, `message_stop`, `response.completed`).
    Done,
    /// An error event; the payload is the event's JSON text, for classification.
    Error(String),
}

impl StreamEvent {
    /// Whether the event is content the caller sees (text or a tool-call piece):
    /// the first such event commits a stream to its candidate.
    pub fn is_content(&self) -> bool {
        match self {
            StreamEvent::Text(t) => !t.is_empty(),
            StreamEvent::ToolCall(_) => true,
            StreamEvent::Model(_)
            | StreamEvent::Usage(_)
            | StreamEvent::Finish(_)
            | StreamEvent::Done
            | StreamEvent::Error(_) => false,
        }
    }
}

/// Why stream events do not make an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    /// A tool-call piece of an index never opened with an id and a name.
    #[error("tool call {0} has no id or name")]
    UnnamedToolCall(u32),
}

/// Assembles stream events into a whole [`ChatAnswer`]: text appended, tool-call
/// pieces joined by index, usage and finish reason kept. The reference for every
/// format's "whole and streamed give the same answer" tests, and how a streamed
/// provider answer serves a whole call.
#[derive(Debug, Clone, Default)]
pub struct AnswerBuilder {
    answer: ChatAnswer,
    /// Tool calls by stream index, in order of first appearance.
    calls: Vec<(u32, Option<String>, Option<String>, String)>,
    finished: bool,
}

impl AnswerBuilder {
    /// Applies one event. `Error` and `Done` change nothing.
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Text(t) => self.answer.content.push_str(t),
            StreamEvent::ToolCall(d) => {
                let slot = match self.calls.iter().position(|c| c.0 == d.index) {
                    Some(i) => &mut self.calls[i],
                    None => {
                        self.calls.push((d.index, None, None, String::new()));
                        let last = self.calls.len() - 1;
                        &mut self.calls[last]
                    }
                };
                if let Some(id) = &d.id {
                    slot.1.get_or_insert_with(|| id.clone());
                }
                if let Some(name) = &d.name {
                    slot.2.get_or_insert_with(|| name.clone());
                }
                slot.3.push_str(&d.arguments);
            }
            StreamEvent::Model(m) => {
                self.answer.model.get_or_insert_with(|| m.clone());
            }
            StreamEvent::Usage(u) => self.answer.usage.apply(*u),
            StreamEvent::Finish(r) => {
                self.answer.finish_reason = *r;
                self.finished = true;
            }
            StreamEvent::Done | StreamEvent::Error(_) => {}
        }
    }

    /// Whether a finish reason arrived.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The answer so far. Tool calls come in index order.
    pub fn build(mut self) -> Result<ChatAnswer, AssembleError> {
        self.calls.sort_by_key(|c| c.0);
        for (index, id, name, arguments) in self.calls {
            let (Some(id), Some(name)) = (id, name) else {
                return Err(AssembleError::UnnamedToolCall(index));
            };
            self.answer.tool_calls.push(ToolCall {
                id,
                name,
                arguments,
            });
        }
        Ok(self.answer)
    }
}

/// Ids of the tool calls that `tool` messages answer without an earlier assistant
/// message having made that call, in order. Empty for a well-formed conversation.
pub fn unanswerable_tool_results(messages: &[Message]) -> Vec<&str> {
    let mut made: Vec<&str> = Vec::new();
    let mut orphans = Vec::new();
    for m in messages {
        made.extend(m.tool_calls.iter().map(|c| c.id.as_str()));
        if m.role == Role::Tool {
            match m.tool_call_id.as_deref() {
                Some(id) if made.contains(&id) => {}
                Some(id) => orphans.push(id),
                None => orphans.push(""),
            }
        }
    }
    orphans
}
