//! `ExplainFallback`'s simulation request, proto -> domain: the caller and the
//! scripted upstream outcomes, with every bad field reported as a violation.

use switchyard_client::pb;
use tonic::Status;

use crate::domain::{Caller, TransportError};
use crate::policy::RefreshOutcome;
use crate::service::SimulationSpec;
use crate::simulate::{ScriptedOutcome, SimulatedCredential};
use crate::validate::{self, MAX_MODEL_LEN, Violations};

use super::status::invalid;

/// Longest simulated body.
const MAX_SIMULATED_BODY: usize = 64 * 1024;
/// Most simulated outcomes.
const MAX_SIMULATED_OUTCOMES: usize = 256;

fn caller_from(caller: Option<pb::Caller>) -> Result<Caller, Status> {
    match caller.and_then(|c| c.kind) {
        Some(pb::caller::Kind::Primary(_)) => Ok(Caller::Primary),
        Some(pb::caller::Kind::Task(task)) if !task.is_empty() => Ok(Caller::Aux(task)),
        Some(pb::caller::Kind::Task(_)) => Err(invalid(vec![(
            "simulation.caller.task",
            "the task name is required".into(),
        )])),
        None => Err(invalid(vec![(
            "simulation.caller",
            "set primary or task".into(),
        )])),
    }
}

/// The simulation as the service runs it.
pub(crate) fn simulation_spec(sim: pb::Simulation) -> Result<SimulationSpec, Status> {
    use pb::simulated_outcome::Outcome;
    let caller = caller_from(sim.caller)?;
    let mut violations: Violations = Vec::new();
    if sim.outcomes.len() > MAX_SIMULATED_OUTCOMES {
        violations.push((
            "simulation.outcomes",
            format!("at most {MAX_SIMULATED_OUTCOMES} outcomes"),
        ));
    }
    let mut outcomes = Vec::with_capacity(sim.outcomes.len());
    for (i, o) in sim.outcomes.into_iter().enumerate() {
        match o.outcome {
            Some(Outcome::Http(h)) => {
                if !(100..=599).contains(&h.status) {
                    violations.push((
                        "simulation.outcomes.http.status",
                        format!("outcome {i}: status {} is not an HTTP status", h.status),
                    ));
                    continue;
                }
                if h.body.len() > MAX_SIMULATED_BODY {
                    violations.push((
                        "simulation.outcomes.http.body",
                        format!("outcome {i}: body over {MAX_SIMULATED_BODY} bytes"),
                    ));
                    continue;
                }
                let mut headers = http::HeaderMap::new();
                for (name, value) in &h.headers {
                    match (
                        http::HeaderName::from_bytes(name.as_bytes()),
                        http::HeaderValue::from_str(value),
                    ) {
                        (Ok(n), Ok(v)) => {
                            headers.insert(n, v);
                        }
                        _ => violations.push((
                            "simulation.outcomes.http.headers",
                            format!("outcome {i}: invalid header {:?}", validate::echo(name)),
                        )),
                    }
                }
                outcomes.push(ScriptedOutcome::Http {
                    status: h.status as u16,
                    headers,
                    body: h.body.into_bytes(),
                    duration_ms: o.duration_ms,
                });
            }
            Some(Outcome::Transport(t)) => {
                let error = match pb::TransportFailure::try_from(t) {
                    Ok(pb::TransportFailure::ConnectionRefused) => {
                        TransportError::ConnectionRefused
                    }
                    Ok(pb::TransportFailure::ConnectionReset) => TransportError::ConnectionReset,
                    Ok(pb::TransportFailure::Timeout) => TransportError::Timeout,
                    Ok(pb::TransportFailure::Dns) => TransportError::Dns,
                    Ok(pb::TransportFailure::Tls) => TransportError::Tls,
                    Ok(pb::TransportFailure::Unspecified) | Err(_) => {
                        violations.push((
                            "simulation.outcomes.transport",
                            format!("outcome {i}: set a transport failure kind"),
                        ));
                        continue;
                    }
                };
                outcomes.push(ScriptedOutcome::Transport {
                    error,
                    duration_ms: o.duration_ms,
                });
            }
            Some(Outcome::Refresh(r)) => {
                let reason = || {
                    if r.reason.is_empty() {
                        "simulated".to_owned()
                    } else {
                        validate::cap(&r.reason, crate::steps::MAX_REASON_CHARS)
                    }
                };
                let outcome = match pb::RefreshResult::try_from(r.result) {
                    Ok(pb::RefreshResult::Succeeded) => RefreshOutcome::Refreshed,
                    Ok(pb::RefreshResult::Refused) => RefreshOutcome::Terminal(reason()),
                    Ok(pb::RefreshResult::FailedTransiently) => RefreshOutcome::Transient(reason()),
                    Ok(pb::RefreshResult::Unspecified) | Err(_) => {
                        violations.push((
                            "simulation.outcomes.refresh.result",
                            format!("outcome {i}: set a refresh result"),
                        ));
                        continue;
                    }
                };
                outcomes.push(ScriptedOutcome::Refresh {
                    outcome,
                    duration_ms: o.duration_ms,
                });
            }
            None => violations.push((
                "simulation.outcomes.outcome",
                format!("outcome {i}: set http, transport or refresh"),
            )),
        }
    }
    if let Some(model) = &sim.model
        && (model.is_empty() || model.len() > MAX_MODEL_LEN)
    {
        violations.push((
            "simulation.model",
            format!("must be 1 to {MAX_MODEL_LEN} characters"),
        ));
    }
    if sim.credentials.len() > MAX_SIMULATED_OUTCOMES {
        violations.push((
            "simulation.credentials",
            format!("at most {MAX_SIMULATED_OUTCOMES} credentials"),
        ));
    }
    let credentials = sim
        .credentials
        .into_iter()
        .map(|c| SimulatedCredential {
            id: c.credential_id.into(),
            expires_in_s: c.expires_in_s,
        })
        .collect();
    if !violations.is_empty() {
        return Err(invalid(violations));
    }
    Ok(SimulationSpec {
        caller,
        outcomes,
        budget_ms: (sim.budget_ms > 0).then_some(sim.budget_ms),
        assume_all_credentials_live: sim.assume_all_credentials_live,
        model: sim.model,
        credentials,
    })
}
