//! Golden, parsing and property tests of the Anthropic translation.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;

mod answers;
mod golden;
mod options;
mod property;
mod streams;
use crate::domain::chat::*;

fn schema(text: &str) -> JsonObject {
    JsonObject::parse(text.to_owned()).unwrap()
}

fn body(request: &ChatRequest) -> Value {
    serde_json::from_slice(&request_body("claude-test", request, false).unwrap()).unwrap()
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn image(source: ImageSource) -> Part {
    Part::Image(Image {
        source,
        detail: Some(ImageDetail::High),
    })
}

/// One rich conversation: system and developer instructions, images of both
/// sources, two parallel tool calls and their results, tools, a JSON Schema.
fn rich_conversation() -> ChatRequest {
    let messages = vec![
        Message::text(Role::System, "You are a travel agent."),
        Message::text(Role::Developer, "Answer in French."),
        Message {
            role: Role::User,
            parts: vec![
                Part::text("What is the weather where this photo was taken, and the time?"),
                image(ImageSource::Url {
                    url: "https://images.test/paris.jpg".into(),
                }),
                image(ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into(),
                }),
            ],
            tool_calls: Vec::new(),
            tool_call_id: None,
        },
        Message::assistant_calls(
            Some("Let me check.".into()),
            vec![
                call("toolu_01", "get_weather", r#"{"city": "Paris"}"#),
                call("toolu_02", "get_time", r#"{"tz":"Europe/Paris"}"#),
            ],
        ),
        Message::tool_result("toolu_01", "18°C, \"sunny\""),
        Message::tool_result("toolu_02", "14:05"),
        Message::text(Role::User, "Thanks! Any advice?"),
    ];
    let mut request = ChatRequest::new(messages);
    request.options = ChatOptions {
        max_tokens: Some(1000),
        temperature: Some(0.2),
        top_p: Some(0.9),
        stop: vec!["\n\nHuman:".into()],
        tools: Arc::from(vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Current weather of a city".into()),
                parameters: Some(schema(
                    r#"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"#,
                )),
                strict: Some(true),
            },
            Tool {
                name: "get_time".into(),
                description: None,
                parameters: None,
                strict: None,
            },
        ]),
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(true),
        user: Some("user-42".into()),
        metadata: [("team".to_owned(), "a".to_owned())].into_iter().collect(),
        ..ChatOptions::default()
    };
    request
}
