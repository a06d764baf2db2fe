//! Tests of the Responses translation: the request (golden and property), whole
//! answers and streams; the reference decoder they share is here.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::classify::classify_stream_error;
use crate::domain::ErrorClass;
use crate::domain::chat::*;

mod answers;
mod streams;

// === The request ===
fn schema(text: &str) -> JsonObject {
    JsonObject::parse(text.to_owned()).unwrap()
}

/// One rich conversation: system, images, two parallel tool calls, their
/// results, tools, a JSON schema and every option Responses carries.
fn rich_request() -> ChatRequest {
    let mut request = ChatRequest::new(vec![
        Message::text(Role::System, "You are a travel assistant."),
        Message {
            role: Role::User,
            parts: vec![
                Part::text("Where is this, and what is the weather and time there?"),
                Part::Image(Image {
                    source: ImageSource::Url {
                        url: "https://img.test/paris.jpg".into(),
                    },
                    detail: Some(ImageDetail::High),
                }),
                Part::Image(Image {
                    source: ImageSource::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into(),
                    },
                    detail: None,
                }),
            ],
            tool_calls: Vec::new(),
            tool_call_id: None,
        },
        Message::assistant_calls(
            Some("Paris. Let me check.".into()),
            vec![
                ToolCall {
                    id: "call_weather_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                },
                ToolCall {
                    id: "call_time_2".into(),
                    name: "get_time".into(),
                    arguments: r#"{"tz":"Europe/Paris"}"#.into(),
                },
            ],
        ),
        Message::tool_result("call_weather_1", r#"{"temp_c":18}"#),
        Message::tool_result("call_time_2", "14:05"),
        Message::text(Role::Developer, "Answer in the schema."),
    ]);
    request.options = ChatOptions {
        max_tokens: Some(512),
        temperature: Some(0.5),
        top_p: Some(0.9),
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Current weather of a city".into()),
                parameters: Some(schema(
                    r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#,
                )),
                strict: Some(true),
            },
            Tool {
                name: "get_time".into(),
                description: None,
                parameters: Some(schema(
                    r#"{"type":"object","properties":{"tz":{"type":"string"}}}"#,
                )),
                strict: None,
            },
        ]
        .into(),
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(true),
        response_format: Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "answer".into(),
            description: Some("Place, weather and time".into()),
            schema: schema(
                r#"{"type":"object","properties":{"place":{"type":"string"},"summary":{"type":"string"}},"required":["place","summary"],"additionalProperties":false}"#,
            ),
            strict: Some(true),
        })),
        reasoning_effort: Some(ReasoningEffort::Low),
        metadata: BTreeMap::from([("task".to_owned(), "vision".to_owned())]),
        user: Some("agent-7".into()),
        ..ChatOptions::default()
    };
    request
}

const GOLDEN: &str = include_str!("../../golden/responses_request.json");

#[test]
fn the_rich_conversation_gives_the_golden_request_body() {
    let body = request_body("gpt-5-codex", &rich_request(), true).unwrap();
    let got: Value = serde_json::from_slice(&body).unwrap();
    let want: Value = serde_json::from_str(GOLDEN).unwrap();
    assert_eq!(
        got,
        want,
        "got:\n{}",
        serde_json::to_string_pretty(&got).unwrap()
    );
    // The golden file is the body, pretty-printed with its keys sorted: review its diff.
    assert_eq!(
        serde_json::to_string_pretty(&got).unwrap(),
        GOLDEN.trim_end()
    );
}

#[test]
fn schemas_are_written_verbatim_and_stream_follows_the_flag() {
    let request = rich_request();
    let body = request_body("m", &request, false).unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    // The raw schema text, not a re-serialisation of it.
    assert!(text.contains(r#""parameters":{"type":"object","properties":{"city""#));
    assert!(text.ends_with(r#""store":false,"stream":false}"#), "{text}");
}

#[test]
fn fields_with_no_responses_equivalent_are_refused_by_name() {
    let mut stop = ChatRequest::new(vec![Message::text(Role::User, "hi")]);
    stop.options.stop = vec!["END".into()];
    assert_eq!(request_body("m", &stop, false).unwrap_err().field, "stop");

    let mut seed = ChatRequest::new(vec![Message::text(Role::User, "hi")]);
    seed.options.seed = Some(7);
    assert_eq!(request_body("m", &seed, false).unwrap_err().field, "seed");

    let image = Part::Image(Image {
        source: ImageSource::Url {
            url: "https://x.test/a.png".into(),
        },
        detail: None,
    });
    let assistant_image = ChatRequest::new(vec![
        Message::text(Role::User, "hi"),
        Message {
            role: Role::Assistant,
            parts: vec![image.clone()],
            tool_calls: Vec::new(),
            tool_call_id: None,
        },
    ]);
    let e = request_body("m", &assistant_image, false).unwrap_err();
    assert_eq!(e.field, "messages[1].content");
    assert!(e.to_string().contains("openai_responses"), "{e}");

    let mut tool_image = Message::tool_result("c", "x");
    tool_image.parts.push(image);
    let tool_image = ChatRequest::new(vec![
        Message::assistant_calls(
            None,
            vec![ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }],
        ),
        tool_image,
    ]);
    assert_eq!(
        request_body("m", &tool_image, false).unwrap_err().field,
        "messages[1].content"
    );

    let mut user_calls = Message::text(Role::User, "hi");
    user_calls.tool_calls.push(ToolCall {
        id: "c".into(),
        name: "f".into(),
        arguments: "{}".into(),
    });
    assert_eq!(
        request_body("m", &ChatRequest::new(vec![user_calls]), false)
            .unwrap_err()
            .field,
        "messages[0].tool_calls"
    );

    let mut nan = ChatRequest::new(vec![Message::text(Role::User, "hi")]);
    nan.options.top_p = Some(f64::NAN);
    assert_eq!(request_body("m", &nan, false).unwrap_err().field, "top_p");

    let mut no_id = Message::tool_result("c", "x");
    no_id.tool_call_id = None;
    assert_eq!(
        request_body("m", &ChatRequest::new(vec![no_id]), false)
            .unwrap_err()
            .field,
        "messages[0].tool_call_id"
    );
}

#[test]
fn a_tool_result_of_several_text_parts_is_sent_as_their_text() {
    let mut result = Message::tool_result("c", "4");
    result.parts.push(Part::text("2"));
    let request = ChatRequest::new(vec![
        Message::assistant_calls(
            None,
            vec![ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }],
        ),
        result,
    ]);
    let body: Value = serde_json::from_slice(&request_body("m", &request, false).unwrap()).unwrap();
    assert_eq!(
        body["input"],
        json!([
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "42"},
        ])
    );
}

#[test]
fn only_a_leading_one_part_system_message_becomes_instructions() {
    let request = ChatRequest::new(vec![
        Message::text(Role::Developer, "dev"),
        Message::text(Role::User, "hi"),
        Message::text(Role::System, "late"),
    ]);
    let body: Value = serde_json::from_slice(&request_body("m", &request, false).unwrap()).unwrap();
    assert!(body.get("instructions").is_none());
    let roles: Vec<&str> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["developer", "user", "system"]);
}

// === A reference decoder: a Responses body back to the domain ===

/// Decodes a body this module built, independently of it: the `input` items back
/// to messages (function_call items join the assistant message before them), and
/// the options back. Absent `detail` and `strict` are the API's defaults.
fn decode(body: &[u8]) -> (String, Vec<Message>, ChatOptions, bool) {
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["store"], json!(false));
    let mut messages = Vec::new();
    if let Some(text) = v.get("instructions") {
        messages.push(Message::text(Role::System, text.as_str().unwrap()));
    }
    let mut calls_attach = false;
    for item in v["input"].as_array().unwrap() {
        match item["type"].as_str().unwrap() {
            "message" => {
                let role = Role::parse(item["role"].as_str().unwrap()).unwrap();
                let parts = item["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| match c["type"].as_str().unwrap() {
                        "input_text" | "output_text" => Part::text(c["text"].as_str().unwrap()),
                        "input_image" => Part::Image(Image {
                            source: ImageSource::from_url(c["image_url"].as_str().unwrap())
                                .unwrap(),
                            detail: ImageDetail::parse(c["detail"].as_str().unwrap()),
                        }),
                        other => panic!("content {other}"),
                    })
                    .collect();
                calls_attach = role == Role::Assistant;
                messages.push(Message {
                    role,
                    parts,
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                });
            }
            "function_call" => {
                let call = ToolCall {
                    id: item["call_id"].as_str().unwrap().into(),
                    name: item["name"].as_str().unwrap().into(),
                    arguments: item["arguments"].as_str().unwrap().into(),
                };
                if !calls_attach {
                    messages.push(Message::assistant_calls(None, Vec::new()));
                    calls_attach = true;
                }
                messages.last_mut().unwrap().tool_calls.push(call);
            }
            "function_call_output" => {
                calls_attach = false;
                messages.push(Message::tool_result(
                    item["call_id"].as_str().unwrap(),
                    item["output"].as_str().unwrap(),
                ));
            }
            other => panic!("item {other}"),
        }
    }
    let tools: Vec<Tool> = v
        .get("tools")
        .map(|t| t.as_array().unwrap().clone())
        .unwrap_or_default()
        .iter()
        .map(|t| {
            assert_eq!(t["type"], "function");
            Tool {
                name: t["name"].as_str().unwrap().into(),
                description: t.get("description").map(|d| d.as_str().unwrap().into()),
                parameters: t.get("parameters").map(|p| schema(&p.to_string())),
                strict: t.get("strict").and_then(Value::as_bool),
            }
        })
        .collect();
    let options = ChatOptions {
        max_tokens: v
            .get("max_output_tokens")
            .map(|n| n.as_u64().unwrap() as u32),
        temperature: v.get("temperature").and_then(Value::as_f64),
        top_p: v.get("top_p").and_then(Value::as_f64),
        tools: tools.into(),
        tool_choice: v.get("tool_choice").map(|c| match c {
            Value::String(s) if s == "auto" => ToolChoice::Auto,
            Value::String(s) if s == "none" => ToolChoice::None,
            Value::String(s) if s == "required" => ToolChoice::Required,
            f => ToolChoice::Function(f["name"].as_str().unwrap().into()),
        }),
        parallel_tool_calls: v.get("parallel_tool_calls").and_then(Value::as_bool),
        response_format: v.get("text").map(|t| {
            let f = &t["format"];
            match f["type"].as_str().unwrap() {
                "text" => ResponseFormat::Text,
                "json_object" => ResponseFormat::JsonObject,
                _ => ResponseFormat::JsonSchema(JsonSchemaFormat {
                    name: f["name"].as_str().unwrap().into(),
                    description: f.get("description").map(|d| d.as_str().unwrap().into()),
                    schema: schema(&f["schema"].to_string()),
                    strict: f.get("strict").and_then(Value::as_bool),
                }),
            }
        }),
        reasoning_effort: v
            .get("reasoning")
            .map(|r| ReasoningEffort::parse(r["effort"].as_str().unwrap()).unwrap()),
        metadata: v
            .get("metadata")
            .map(|m| serde_json::from_value(m.clone()).unwrap())
            .unwrap_or_default(),
        user: v.get("user").map(|u| u.as_str().unwrap().into()),
        ..ChatOptions::default()
    };
    (
        v["model"].as_str().unwrap().into(),
        messages,
        options,
        v["stream"].as_bool().unwrap(),
    )
}

/// The request as the Responses API reads it: an image without `detail` is
/// `auto`, a tool without `strict` is not strict; schemas compared as JSON.
fn normalise(messages: &[Message], options: &ChatOptions) -> (Vec<Message>, Vec<Value>, Value) {
    let messages = messages
        .iter()
        .map(|m| Message {
            parts: m
                .parts
                .iter()
                .map(|p| match p {
                    Part::Image(i) => Part::Image(Image {
                        source: i.source.clone(),
                        detail: Some(i.detail.unwrap_or(ImageDetail::Auto)),
                    }),
                    text => text.clone(),
                })
                .collect(),
            ..m.clone()
        })
        .collect();
    let tools = options
        .tools
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters.as_ref().map(|p| serde_json::from_str::<Value>(p.get()).unwrap()),
                "strict": t.strict.unwrap_or(false),
            })
        })
        .collect();
    let rest = json!({
        "max_tokens": options.max_tokens,
        "temperature": options.temperature,
        "top_p": options.top_p,
        "tool_choice": format!("{:?}", options.tool_choice),
        "parallel": options.parallel_tool_calls,
        "format": options.response_format.as_ref().map(|f| match f {
            ResponseFormat::JsonSchema(s) => json!({
                "name": s.name, "description": s.description, "strict": s.strict,
                "schema": serde_json::from_str::<Value>(s.schema.get()).unwrap(),
            }),
            other => json!(format!("{other:?}")),
        }),
        "effort": options.reasoning_effort.map(|e| e.as_str()),
        "metadata": options.metadata,
        "user": options.user,
    });
    (messages, tools, rest)
}

#[test]
fn the_reference_decoder_reads_back_the_rich_conversation() {
    let request = rich_request();
    let (model, messages, options, stream) =
        decode(&request_body("gpt-5", &request, true).unwrap());
    assert_eq!((model.as_str(), stream), ("gpt-5", true));
    assert_eq!(
        normalise(&messages, &options),
        normalise(&request.messages, &request.options)
    );
}

/// splitmix64: reproducible draws without a random-number crate.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self) -> bool {
        self.next() & 1 == 1
    }

    /// Text with quotes, escapes, unicode and newlines, sometimes empty.
    fn text(&mut self) -> String {
        const ALPHABET: &[&str] = &["a", "Z", " ", "\"", "\\", "\n", "é", "🚂", "{", "}", "0"];
        (0..self.below(12))
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }

    fn image(&mut self) -> Part {
        let source = if self.chance() {
            ImageSource::Url {
                url: format!("https://img.test/{}.png", self.below(1000)),
            }
        } else {
            ImageSource::Base64 {
                media_type: "image/jpeg".into(),
                data: "AAEC/w==".into(),
            }
        };
        let detail = [
            None,
            Some(ImageDetail::Auto),
            Some(ImageDetail::Low),
            Some(ImageDetail::High),
        ][self.below(4) as usize];
        Part::Image(Image { source, detail })
    }

    /// A translatable request: assistant and tool messages of text only, every
    /// tool result answering a call, no `stop` or `seed`.
    fn request(&mut self) -> ChatRequest {
        let mut messages = Vec::new();
        let mut open_calls: Vec<String> = Vec::new();
        let mut next_id = 0;
        for _ in 0..1 + self.below(8) {
            // Answer pending calls first, as a conversation does.
            if let Some(id) = open_calls.pop() {
                messages.push(Message::tool_result(id, self.text()));
                continue;
            }
            let previous_assistant = messages
                .last()
                .is_some_and(|m: &Message| m.role == Role::Assistant);
            let role = match self.below(5) {
                0 => Role::System,
                1 => Role::Developer,
                2 if !previous_assistant => Role::Assistant,
                _ => Role::User,
            };
            let parts = (0..self.below(4))
                .map(|_| {
                    if role != Role::Assistant && self.below(3) == 0 {
                        self.image()
                    } else {
                        Part::text(self.text())
                    }
                })
                .collect();
            let mut message = Message {
                role,
                parts,
                tool_calls: Vec::new(),
                tool_call_id: None,
            };
            if role == Role::Assistant {
                for _ in 0..self.below(3) {
                    next_id += 1;
                    let id = format!("call_{next_id}_{}", self.below(1 << 20));
                    open_calls.push(id.clone());
                    message.tool_calls.push(ToolCall {
                        id,
                        name: format!("fn_{}", self.below(5)),
                        arguments: self.text(),
                    });
                }
            }
            messages.push(message);
        }
        let mut request = ChatRequest::new(messages);
        let tools: Vec<Tool> = (0..self.below(4))
            .map(|i| Tool {
                name: format!("fn_{i}"),
                description: self.chance().then(|| self.text()),
                parameters: self
                    .chance()
                    .then(|| schema(&format!(r#"{{"type":"object","x":{}}}"#, self.below(9)))),
                strict: [None, Some(false), Some(true)][self.below(3) as usize],
            })
            .collect();
        request.options = ChatOptions {
            max_tokens: self.chance().then(|| self.below(4096) as u32),
            temperature: self.chance().then(|| self.below(20) as f64 / 10.0),
            top_p: self.chance().then_some(0.5),
            tools: tools.into(),
            tool_choice: [
                None,
                Some(ToolChoice::Auto),
                Some(ToolChoice::None),
                Some(ToolChoice::Required),
                Some(ToolChoice::Function("fn_0".into())),
            ][self.below(5) as usize]
                .clone(),
            parallel_tool_calls: [None, Some(false), Some(true)][self.below(3) as usize],
            response_format: match self.below(4) {
                0 => None,
                1 => Some(ResponseFormat::Text),
                2 => Some(ResponseFormat::JsonObject),
                _ => Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                    name: "s".into(),
                    description: self.chance().then(|| self.text()),
                    schema: schema(r#"{"type":"object"}"#),
                    strict: [None, Some(true)][self.below(2) as usize],
                })),
            },
            reasoning_effort: self.chance().then_some(ReasoningEffort::High),
            metadata: (0..self.below(3))
                .map(|i| (format!("k{i}"), self.text()))
                .collect(),
            user: self.chance().then(|| self.text()),
            ..ChatOptions::default()
        };
        request
    }
}

#[test]
fn any_translatable_request_decodes_back_to_every_message_part_call_and_id() {
    let mut draw = Draw(0x5717_C4A2);
    for case in 0..2000 {
        let request = draw.request();
        let stream = draw.chance();
        let body = request_body("m", &request, stream)
            .unwrap_or_else(|e| panic!("case {case}: {e} for {request:#?}"));
        let (model, messages, options, streamed) = decode(&body);
        assert_eq!((model.as_str(), streamed), ("m", stream), "case {case}");
        assert_eq!(
            normalise(&messages, &options),
            normalise(&request.messages, &request.options),
            "case {case}: {request:#?}"
        );
    }
}
