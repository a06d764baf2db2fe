//! A domain answer as the Responses API's output items, usage and status, and
//! the request's settings echoed back in the response object.

use crate::domain::{
    ChatAnswer, ChatOptions, FinishReason, JsonObject, ReasoningEffort, ResponseFormat, ToolChoice,
    Usage,
};

use super::types::{
    Incomplete, InputDetails, OutFormat, OutItem, OutReasoning, OutText, OutTextConfig, OutTool,
    OutToolChoice, OutUsage, OutputDetails,
};

/// The Responses `usage`.
pub(crate) fn usage(u: Usage) -> OutUsage {
    OutUsage {
        input_tokens: u.input_tokens,
        input_tokens_details: InputDetails {
            cached_tokens: u.cached_input_tokens,
        },
        output_tokens: u.output_tokens,
        output_tokens_details: OutputDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
        total_tokens: u.input_tokens.saturating_add(u.output_tokens),
    }
}

/// The response status of a finished answer: `completed`, or `incomplete` with
/// why (the Responses API has no finish reason; a tool call is a completed
/// response whose output holds function calls).
pub(crate) fn status(finish: FinishReason) -> (&'static str, Option<Incomplete>) {
    match finish {
        FinishReason::Stop | FinishReason::ToolCalls => ("completed", None),
        FinishReason::Length => (
            "incomplete",
            Some(Incomplete {
                reason: "max_output_tokens",
            }),
        ),
        FinishReason::ContentFilter => (
            "incomplete",
            Some(Incomplete {
                reason: "content_filter",
            }),
        ),
    }
}

/// The id of a message item.
pub(crate) fn message_id(request_id: &str, index: usize) -> String {
    format!("msg_{request_id}_{index}")
}

/// The id of a function call item (its `call_id` is the provider's).
pub(crate) fn call_item_id(request_id: &str, index: usize) -> String {
    format!("fc_{request_id}_{index}")
}

/// The output of a whole answer: the text as one message (when there is text, or
/// nothing at all), then one item per function call.
pub(crate) fn output<'a>(request_id: &str, a: &'a ChatAnswer) -> Vec<OutItem<'a>> {
    let mut items = Vec::with_capacity(1 + a.tool_calls.len());
    if !a.content.is_empty() || a.tool_calls.is_empty() {
        items.push(OutItem::Message {
            id: message_id(request_id, 0),
            status: "completed",
            role: "assistant",
            content: vec![OutText::new(&a.content)],
        });
    }
    for c in &a.tool_calls {
        items.push(OutItem::FunctionCall {
            id: call_item_id(request_id, items.len()),
            call_id: &c.id,
            name: &c.name,
            arguments: &c.arguments,
            status: "completed",
        });
    }
    items
}

/// The request's tools, as the response echoes them.
pub(crate) fn echo_tools(o: &ChatOptions) -> Vec<OutTool<'_>> {
    o.tools
        .iter()
        .map(|t| OutTool {
            kind: "function",
            name: &t.name,
            description: t.description.as_deref(),
            parameters: t.parameters.as_ref().map(JsonObject::raw),
            strict: t.strict,
        })
        .collect()
}

/// The request's tool choice, as the response echoes it (`auto` when unsaid).
pub(crate) fn echo_tool_choice(o: &ChatOptions) -> OutToolChoice<'_> {
    match &o.tool_choice {
        None | Some(ToolChoice::Auto) => OutToolChoice::Mode("auto"),
        Some(ToolChoice::None) => OutToolChoice::Mode("none"),
        Some(ToolChoice::Required) => OutToolChoice::Mode("required"),
        Some(ToolChoice::Function(name)) => OutToolChoice::Function {
            kind: "function",
            name,
        },
    }
}

/// The request's `text`, as the response echoes it (`text` when unsaid).
pub(crate) fn echo_text(o: &ChatOptions) -> OutTextConfig<'_> {
    let format = match &o.response_format {
        None | Some(ResponseFormat::Text) => OutFormat::Text,
        Some(ResponseFormat::JsonObject) => OutFormat::JsonObject,
        Some(ResponseFormat::JsonSchema(s)) => OutFormat::JsonSchema {
            name: &s.name,
            description: s.description.as_deref(),
            schema: s.schema.raw(),
            strict: s.strict,
        },
    };
    OutTextConfig { format }
}

/// The request's `reasoning`, as the response echoes it.
pub(crate) fn echo_reasoning(o: &ChatOptions) -> OutReasoning {
    OutReasoning {
        effort: o.reasoning_effort.map(ReasoningEffort::as_str),
        summary: None,
    }
}
