//! Constructors of the generated messages: chat messages (text, images, tool calls
//! and results), tools, tool choices, response formats, callers and simulations.
//!
//! They are inherent methods of the `pb` types, so `Message::user("hi")` and
//! `Simulation::task("compression").with_outcome(SimulatedOutcome::http(401, body))`
//! read like the Go (`User`, `TaskCaller`, `HTTPOutcome`) and Python (`message`,
//! `simulation`, `http_outcome`) helpers.

use crate::pb;

impl pb::Message {
    /// A message of `role` with `content`.
    pub fn new(role: pb::Role, content: impl Into<String>) -> Self {
        Self {
            role: role as i32,
            content: content.into(),
            ..Self::default()
        }
    }

    /// A message of `role` whose content is ordered parts (text and images).
    pub fn with_parts(role: pb::Role, parts: impl IntoIterator<Item = pb::ContentPart>) -> Self {
        Self {
            role: role as i32,
            parts: parts.into_iter().collect(),
            ..Self::default()
        }
    }

    /// A developer message (instructions, OpenAI's successor of `system`).
    pub fn developer(content: impl Into<String>) -> Self {
        Self::new(pb::Role::Developer, content)
    }

    /// A user message of text and images:
    /// `Message::user_parts([ContentPart::text("what is this?"), ContentPart::image_url(url)])`.
    pub fn user_parts(parts: impl IntoIterator<Item = pb::ContentPart>) -> Self {
        Self::with_parts(pb::Role::User, parts)
    }

    /// The assistant turn that made `calls`: send it back before their results.
    pub fn assistant_tool_calls(calls: impl IntoIterator<Item = pb::ToolCall>) -> Self {
        Self {
            role: pb::Role::Assistant as i32,
            tool_calls: calls.into_iter().collect(),
            ..Self::default()
        }
    }

    /// The result of the tool call `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: pb::Role::Tool as i32,
            content: content.into(),
            tool_call_id: Some(tool_call_id.into()),
            ..Self::default()
        }
    }

    /// A system message (instructions).
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(pb::Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(pb::Role::User, content)
    }

    /// An assistant (model) message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(pb::Role::Assistant, content)
    }
}

impl pb::ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            part: Some(pb::content_part::Part::Text(text.into())),
        }
    }

    /// An image the provider fetches from an `https://` URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        Self::image(pb::image::Source::Url(url.into()))
    }

    /// An inline image: its bytes and media type (`image/png`, `image/jpeg`...).
    pub fn image_data(media_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self::image(pb::image::Source::Data(pb::ImageData {
            media_type: media_type.into(),
            data: data.into(),
        }))
    }

    fn image(source: pb::image::Source) -> Self {
        Self {
            part: Some(pb::content_part::Part::Image(pb::Image {
                source: Some(source),
                detail: pb::ImageDetail::Unspecified as i32,
            })),
        }
    }
}

impl pb::Tool {
    /// A function the model may call; `parameters` is the JSON Schema of its
    /// arguments, as JSON text of an object.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            description: Some(description.into()),
            parameters: parameters.into(),
            strict: None,
        }
    }
}

impl pb::ToolChoice {
    /// The model decides.
    pub fn auto() -> Self {
        Self::mode(pb::ToolChoiceMode::Auto)
    }

    /// No tool call.
    pub fn none() -> Self {
        Self::mode(pb::ToolChoiceMode::None)
    }

    /// At least one tool call.
    pub fn required() -> Self {
        Self::mode(pb::ToolChoiceMode::Required)
    }

    /// A call of this function.
    pub fn function(name: impl Into<String>) -> Self {
        Self {
            choice: Some(pb::tool_choice::Choice::Function(name.into())),
        }
    }

    fn mode(mode: pb::ToolChoiceMode) -> Self {
        Self {
            choice: Some(pb::tool_choice::Choice::Mode(mode as i32)),
        }
    }
}

impl pb::ResponseFormat {
    /// Any JSON object.
    pub fn json_object() -> Self {
        Self {
            kind: pb::ResponseFormatKind::JsonObject as i32,
            json_schema: None,
        }
    }

    /// JSON following `schema` (JSON text of an object), strictly.
    pub fn json_schema(name: impl Into<String>, schema: impl Into<String>) -> Self {
        Self {
            kind: pb::ResponseFormatKind::JsonSchema as i32,
            json_schema: Some(pb::JsonSchemaFormat {
                name: name.into(),
                description: None,
                schema: schema.into(),
                strict: Some(true),
            }),
        }
    }
}

impl pb::Caller {
    /// The primary caller: the agent's main conversation.
    pub fn primary() -> Self {
        Self {
            kind: Some(pb::caller::Kind::Primary(pb::PrimaryCaller {})),
        }
    }

    /// An auxiliary task by name (`compression`, `vision`, ...).
    pub fn task(task: impl Into<String>) -> Self {
        Self {
            kind: Some(pb::caller::Kind::Task(task.into())),
        }
    }
}

impl pb::SimulatedOutcome {
    /// A simulated HTTP answer (2xx is a success), e.g.
    /// `SimulatedOutcome::http(401, r#"{"error":{"code":"token_invalidated"}}"#)`.
    pub fn http(status: u32, body: impl Into<String>) -> Self {
        Self {
            outcome: Some(pb::simulated_outcome::Outcome::Http(pb::HttpOutcome {
                status,
                body: body.into(),
                headers: Default::default(),
            })),
            duration_ms: 0,
        }
    }

    /// A simulated failure without an HTTP answer.
    pub fn transport(failure: pb::TransportFailure) -> Self {
        Self {
            outcome: Some(pb::simulated_outcome::Outcome::Transport(failure as i32)),
            duration_ms: 0,
        }
    }

    /// How the next credential refresh the policy asks for ends, e.g.
    /// `SimulatedOutcome::refresh(RefreshResult::Refused, "token endpoint answered 400 invalid_grant")`.
    pub fn refresh(result: pb::RefreshResult, reason: impl Into<String>) -> Self {
        Self {
            outcome: Some(pb::simulated_outcome::Outcome::Refresh(
                pb::SimulatedRefresh {
                    result: result as i32,
                    reason: reason.into(),
                },
            )),
            duration_ms: 0,
        }
    }

    /// Adds a response header that matters to the policy, e.g. `retry-after`
    /// (ignored for a transport failure).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Some(pb::simulated_outcome::Outcome::Http(http)) = &mut self.outcome {
            http.headers.insert(name.into(), value.into());
        }
        self
    }

    /// Sets the simulated time the attempt takes, in milliseconds.
    pub fn with_duration_ms(mut self, duration_ms: u64) -> Self {
        self.duration_ms = duration_ms;
        self
    }
}

impl pb::Simulation {
    /// A simulation of the primary caller; with no outcome, every attempt succeeds.
    pub fn primary() -> Self {
        Self {
            caller: Some(pb::Caller::primary()),
            ..Self::default()
        }
    }

    /// A simulation of an auxiliary task; with no outcome, every attempt succeeds.
    pub fn task(task: impl Into<String>) -> Self {
        Self {
            caller: Some(pb::Caller::task(task)),
            ..Self::default()
        }
    }

    /// Appends the outcome of the next upstream attempt.
    pub fn with_outcome(mut self, outcome: pb::SimulatedOutcome) -> Self {
        self.outcomes.push(outcome);
        self
    }

    /// Appends the outcomes of the next upstream attempts, in order; once they run
    /// out, attempts succeed.
    pub fn with_outcomes(
        mut self,
        outcomes: impl IntoIterator<Item = pb::SimulatedOutcome>,
    ) -> Self {
        self.outcomes.extend(outcomes);
        self
    }

    /// Sets the time budget in milliseconds (0: the caller's configured timeout).
    pub fn with_budget_ms(mut self, budget_ms: u64) -> Self {
        self.budget_ms = budget_ms;
        self
    }

    /// Plans as if every credential were live, ignoring cooldowns and dead marks.
    pub fn assuming_all_credentials_live(mut self) -> Self {
        self.assume_all_credentials_live = true;
        self
    }

    /// Overrides the model of the first candidate, as a real request may.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Plans as if the OAuth credential `id`'s access token expired `seconds`
    /// from now (negative: it has expired).
    pub fn with_credential_expiring(mut self, id: impl Into<String>, seconds: i64) -> Self {
        self.credentials.push(pb::SimulatedCredential {
            credential_id: id.into(),
            expires_in_s: Some(seconds),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_their_role() {
        assert_eq!(pb::Message::system("s").role(), pb::Role::System);
        assert_eq!(pb::Message::user("u").role(), pb::Role::User);
        let a = pb::Message::assistant("a");
        assert_eq!((a.role(), a.content.as_str()), (pb::Role::Assistant, "a"));
    }

    #[test]
    fn tool_turns_carry_their_calls_and_ids() {
        let call = pb::ToolCall {
            id: "call_1".into(),
            name: "weather".into(),
            arguments: "{}".into(),
        };
        let a = pb::Message::assistant_tool_calls([call.clone()]);
        assert_eq!(
            (a.role(), a.tool_calls.clone()),
            (pb::Role::Assistant, vec![call])
        );
        let t = pb::Message::tool_result("call_1", "sunny");
        assert_eq!((t.role(), t.tool_call_id()), (pb::Role::Tool, "call_1"));
        let u = pb::Message::user_parts([
            pb::ContentPart::text("what is this?"),
            pb::ContentPart::image_data("image/png", vec![1, 2]),
        ]);
        assert_eq!(u.parts.len(), 2);
        assert!(u.content.is_empty());
        assert_eq!(
            pb::ToolChoice::function("weather").choice,
            Some(pb::tool_choice::Choice::Function("weather".into()))
        );
    }

    #[test]
    fn simulations_are_built_step_by_step() {
        let sim = pb::Simulation::task("compression")
            .with_outcome(
                pb::SimulatedOutcome::http(429, "{}")
                    .with_header("retry-after", "1")
                    .with_duration_ms(40),
            )
            .with_outcomes([pb::SimulatedOutcome::transport(
                pb::TransportFailure::Timeout,
            )])
            .with_outcome(pb::SimulatedOutcome::refresh(
                pb::RefreshResult::Refused,
                "invalid_grant",
            ))
            .with_budget_ms(900)
            .assuming_all_credentials_live()
            .with_model("m")
            .with_credential_expiring("codex-oauth", 10);
        assert_eq!(sim.credentials[0].expires_in_s, Some(10));
        assert_eq!(
            sim.outcomes[2].outcome,
            Some(pb::simulated_outcome::Outcome::Refresh(
                pb::SimulatedRefresh {
                    result: pb::RefreshResult::Refused as i32,
                    reason: "invalid_grant".into(),
                }
            ))
        );
        assert_eq!(sim.caller, Some(pb::Caller::task("compression")));
        assert_eq!(sim.outcomes.len(), 3);
        assert_eq!(sim.outcomes[0].duration_ms, 40);
        match &sim.outcomes[0].outcome {
            Some(pb::simulated_outcome::Outcome::Http(h)) => {
                assert_eq!((h.status, h.headers["retry-after"].as_str()), (429, "1"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            sim.outcomes[1].outcome,
            Some(pb::simulated_outcome::Outcome::Transport(
                pb::TransportFailure::Timeout as i32
            ))
        );
        assert_eq!(
            (sim.budget_ms, sim.assume_all_credentials_live, sim.model()),
            (900, true, "m")
        );
        assert_eq!(
            pb::Simulation::primary().caller,
            Some(pb::Caller::primary())
        );
    }
}
