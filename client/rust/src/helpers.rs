//! Constructors of the generated messages: chat messages, callers and simulations.
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
