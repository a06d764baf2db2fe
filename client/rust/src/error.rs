//! Typed errors decoded from the gRPC status of a failed call.
//!
//! The service puts a `google.rpc.Status` in the `grpc-status-details-bin` trailer.
//! Its details hold a `google.rpc.ErrorInfo` (whose `reason` is a
//! [`pb::ErrorReason`] name without the `ERROR_REASON_` prefix, domain
//! [`ERROR_DOMAIN`], metadata `request_id`), a [`pb::FailureDetail`] with the attempt
//! trail when the fallback policy ran, and a `google.rpc.BadRequest` when a field
//! was invalid. [`Error::from_status`] turns that into one [`Error`] variant per
//! reason; a status without Switchyard details (the client's own deadline, an
//! unreachable server) maps by its gRPC code.
//!
//! The reasons are not kept here as strings: the wire name is prefixed with
//! `ERROR_REASON_` and looked up in the generated [`pb::ErrorReason`]
//! ([`Failure::error_reason`]), and the variant is chosen by the generated value. A
//! reason added to the proto reaches this client by regeneration alone: it arrives as
//! [`Error::Other`] with `error_reason()` set, until it gets a variant of its own.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::pb;

/// `google.rpc.ErrorInfo.domain` of every error of the service.
pub const ERROR_DOMAIN: &str = "switchyard.dev";

const FAILURE_DETAIL_TYPE_URL: &str = "type.googleapis.com/switchyard.v1.FailureDetail";

/// One invalid field of a refused request (`google.rpc.BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `messages.role` or `temperature`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// What every [`Error`] carries: the gRPC status, decoded.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure {
    /// The gRPC status code, e.g. [`Code::Unavailable`] for `ALL_CANDIDATES_FAILED`;
    /// always [`Code::DeadlineExceeded`] for an [`Error::Deadline`], even when tonic's
    /// channel reported the expired `grpc-timeout` as `CANCELLED` (kept in `status`).
    pub code: Code,
    /// The status message, for a human reader. Never contains a secret.
    pub message: String,
    /// `ErrorInfo.reason` (e.g. `ALL_CANDIDATES_FAILED`), when the status carried an
    /// `ErrorInfo` of [`ERROR_DOMAIN`]; `None` for a client-side deadline or an
    /// unreachable server.
    pub reason: Option<String>,
    /// `ErrorInfo.metadata` (`request_id`, `task`...).
    pub metadata: HashMap<String, String>,
    /// The failed request's id, for [`Client::explain_request`](crate::Client::explain_request),
    /// when the fallback policy ran (from `FailureDetail`, else the `ErrorInfo` metadata).
    pub request_id: Option<String>,
    /// Every step the policy took, in order (`FailureDetail.attempts`); empty when no
    /// candidate was considered. Print it with [`trail::format`](crate::trail::format).
    pub attempts: Vec<pb::Attempt>,
    /// The status as received (or, for a client-side failure, as made by the client).
    pub status: tonic::Status,
}

impl Failure {
    /// The reason as the generated enum: the `ERROR_REASON_` prefix added, looked up
    /// with [`pb::ErrorReason::from_str_name`]. [`pb::ErrorReason::Unspecified`] when
    /// there is none or it is newer than the generated code.
    pub fn error_reason(&self) -> pb::ErrorReason {
        error_reason_of(self.reason.as_deref())
    }

    fn local(code: Code, message: String) -> Self {
        Self {
            code,
            status: tonic::Status::new(code, message.clone()),
            message,
            reason: None,
            metadata: HashMap::new(),
            request_id: None,
            attempts: Vec::new(),
        }
    }
}

/// `REASON: message (request <id>)`; the code's name when there is no reason.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Some(reason) => f.write_str(reason)?,
            None => write!(f, "{:?}", self.code)?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id
            && !self.message.contains(id.as_str())
        {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

/// The source is the status's own source, such as the transport error of an
/// unreachable server.
impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.status)
    }
}

/// A failed call, typed by the `ErrorInfo.reason` the server sent, else by the
/// gRPC code. Every variant carries a [`Failure`] (code, message, request id and
/// attempt trail when present); [`Error::failure`] reaches it whatever the variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `ALL_CANDIDATES_FAILED`: every candidate was tried or skipped and none
    /// answered (gRPC `UNAVAILABLE`). The trail says why each one failed.
    #[error(transparent)]
    AllCandidatesFailed(Box<Failure>),
    /// `CONTEXT_OVERFLOW`: the request does not fit the model's context; shrink it.
    /// Not retried elsewhere (gRPC `OUT_OF_RANGE`).
    #[error(transparent)]
    ContextOverflow(Box<Failure>),
    /// `CONTENT_POLICY`: the provider refused the content. Not retried elsewhere
    /// (gRPC `FAILED_PRECONDITION`).
    #[error(transparent)]
    ContentPolicy(Box<Failure>),
    /// `DEADLINE_EXHAUSTED`: the caller's deadline or the task timeout left the
    /// policy no time for another attempt (gRPC `DEADLINE_EXCEEDED`); carries the trail.
    #[error(transparent)]
    DeadlineExhausted(Box<Failure>),
    /// `STREAM_INTERRUPTED`: a streamed answer broke off after text had been sent
    /// (gRPC `ABORTED`). The text received is incomplete; no other candidate was
    /// tried. The metadata names the `provider`, `model` and `candidate_index`; the
    /// trail ends with `ACTION_STOP_STREAM`.
    #[error(transparent)]
    StreamInterrupted(Box<Failure>),
    /// `UNKNOWN_TASK`: the task is neither built in nor defined by the server's
    /// config (gRPC `INVALID_ARGUMENT`); the task is in `metadata["task"]`.
    #[error(transparent)]
    UnknownTask(Box<Failure>),
    /// `INVALID_ARGUMENT` (or a bare `INVALID_ARGUMENT` status): a request field is
    /// invalid. The request was refused before any provider was considered.
    #[error("{failure}")]
    InvalidArgument {
        /// The invalid fields, from `google.rpc.BadRequest`.
        field_violations: Vec<FieldViolation>,
        /// The status.
        failure: Box<Failure>,
    },
    /// `REQUEST_NOT_FOUND`: no trail is recorded for that request id (gRPC `NOT_FOUND`).
    #[error(transparent)]
    RequestNotFound(Box<Failure>),
    /// `UNAUTHENTICATED` (or a bare `UNAUTHENTICATED` status): the call carries no
    /// bearer token, or one the server does not know.
    #[error(transparent)]
    Unauthenticated(Box<Failure>),
    /// `PERMISSION_DENIED` (or a bare `PERMISSION_DENIED` status): the token may not
    /// call this service.
    #[error(transparent)]
    PermissionDenied(Box<Failure>),
    /// `CREDENTIAL_NOT_FOUND`: [`AdminClient`](crate::AdminClient), no credential has
    /// that id (gRPC `NOT_FOUND`).
    #[error(transparent)]
    CredentialNotFound(Box<Failure>),
    /// `NOT_REFRESHABLE`: [`AdminClient::refresh_credential`](crate::AdminClient::refresh_credential)
    /// on a static API key (gRPC `FAILED_PRECONDITION`).
    #[error(transparent)]
    NotRefreshable(Box<Failure>),
    /// `REFRESH_FAILED`: the token endpoint refused the refresh (gRPC
    /// `FAILED_PRECONDITION`; the credential is now dead) or failed (gRPC
    /// `UNAVAILABLE`; try again).
    #[error(transparent)]
    RefreshFailed(Box<Failure>),
    /// `INTERNAL` (or a bare `INTERNAL` status): a failure of the service itself.
    #[error(transparent)]
    Internal(Box<Failure>),
    /// The call's deadline passed before an answer arrived: the client's own timer,
    /// or a `DEADLINE_EXCEEDED` status without a Switchyard reason. No request id,
    /// no trail. The server's variant, with the trail, is [`Error::DeadlineExhausted`];
    /// [`Error::is_deadline`] is true for both.
    #[error(transparent)]
    Deadline(Box<Failure>),
    /// The server could not be reached: connecting failed, or a bare `UNAVAILABLE`
    /// status (the transport error is the [`source`](std::error::Error::source)).
    #[error(transparent)]
    Transport(Box<Failure>),
    /// Any other status, including reasons newer than this client (whose
    /// [`Failure::error_reason`] is set once the generated code knows them).
    #[error(transparent)]
    Other(Box<Failure>),
}

/// How early a `CANCELLED` status may arrive before the call's deadline and still
/// count as the deadline: tonic's channel enforces the `grpc-timeout` it sends and
/// answers `CANCELLED "Timeout expired"`, which may beat the client's own timer.
const DEADLINE_SLACK: Duration = Duration::from_millis(50);

impl Error {
    /// Builds the typed error of a status, decoding its details.
    pub fn from_status(status: tonic::Status) -> Self {
        Self::decode(status, false)
    }

    /// As [`Error::from_status`], for a call whose deadline has passed (or is within
    /// a few milliseconds): a bare `CANCELLED` status is then an [`Error::Deadline`].
    pub(crate) fn decode(status: tonic::Status, deadline_passed: bool) -> Self {
        let details = status.get_error_details();
        let (reason, metadata) = match details.error_info() {
            Some(info) if info.domain == ERROR_DOMAIN => {
                (Some(info.reason.clone()), info.metadata.clone())
            }
            _ => (None, HashMap::new()),
        };
        let field_violations: Vec<FieldViolation> = details
            .bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| FieldViolation {
                        field: v.field.clone(),
                        description: v.description.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let detail = failure_detail(&status);
        let request_id = detail
            .as_ref()
            .map(|d| d.request_id.clone())
            .filter(|id| !id.is_empty())
            .or_else(|| metadata.get("request_id").cloned())
            .filter(|id| !id.is_empty());
        let code = status.code();
        let failure = Box::new(Failure {
            code,
            message: status.message().to_owned(),
            reason,
            metadata,
            request_id,
            attempts: detail.map(|d| d.attempts).unwrap_or_default(),
            status,
        });

        use pb::ErrorReason as R;
        match failure.error_reason() {
            R::AllCandidatesFailed => Self::AllCandidatesFailed(failure),
            R::ContextOverflow => Self::ContextOverflow(failure),
            R::ContentPolicy => Self::ContentPolicy(failure),
            R::DeadlineExhausted => Self::DeadlineExhausted(failure),
            R::StreamInterrupted => Self::StreamInterrupted(failure),
            R::UnknownTask => Self::UnknownTask(failure),
            R::InvalidArgument => Self::InvalidArgument {
                field_violations,
                failure,
            },
            R::RequestNotFound => Self::RequestNotFound(failure),
            R::Unauthenticated => Self::Unauthenticated(failure),
            R::PermissionDenied => Self::PermissionDenied(failure),
            R::Internal => Self::Internal(failure),
            R::CredentialNotFound => Self::CredentialNotFound(failure),
            R::NotRefreshable => Self::NotRefreshable(failure),
            R::RefreshFailed => Self::RefreshFailed(failure),
            // A reason this build's proto does not know: a status of its own all the same.
            R::Unspecified if failure.reason.is_some() => Self::Other(failure),
            R::Unspecified => match code {
                Code::DeadlineExceeded => Self::Deadline(failure),
                // tonic's channel enforcing the grpc-timeout the client sent: the
                // client's own deadline. `status` keeps the CANCELLED it reported.
                Code::Cancelled if deadline_passed => {
                    let mut failure = failure;
                    failure.code = Code::DeadlineExceeded;
                    Self::Deadline(failure)
                }
                Code::InvalidArgument => Self::InvalidArgument {
                    field_violations,
                    failure,
                },
                Code::Unauthenticated => Self::Unauthenticated(failure),
                Code::PermissionDenied => Self::PermissionDenied(failure),
                Code::Internal => Self::Internal(failure),
                Code::Unavailable => Self::Transport(failure),
                _ => Self::Other(failure),
            },
            // A reason added to the proto after this match was written: regeneration
            // brings it (`error_reason()` names it) without breaking the build of
            // every crate that depends on this one.
            #[allow(unreachable_patterns)]
            _ => Self::Other(failure),
        }
    }

    /// The client's own deadline passed after `timeout`.
    pub(crate) fn client_deadline(timeout: Duration) -> Self {
        Self::Deadline(Box::new(Failure::local(
            Code::DeadlineExceeded,
            format!("the call's deadline ({timeout:?}) passed before the server answered"),
        )))
    }

    /// The server broke the streaming protocol (events out of order).
    pub(crate) fn protocol(message: &str) -> Self {
        Self::Internal(Box::new(Failure::local(Code::Internal, message.to_owned())))
    }

    /// Connecting to the server failed.
    pub(crate) fn connect(error: tonic::transport::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        let mut failure = Failure::local(Code::Unavailable, message);
        failure.status.set_source(Arc::new(error));
        Self::Transport(Box::new(failure))
    }

    /// A request the client refuses to send (e.g. a token that is not a valid
    /// header value).
    pub(crate) fn invalid_locally(field: &str, description: &str) -> Self {
        Self::InvalidArgument {
            field_violations: vec![FieldViolation {
                field: field.to_owned(),
                description: description.to_owned(),
            }],
            failure: Box::new(Failure::local(
                Code::InvalidArgument,
                format!("invalid request: {field}: {description}"),
            )),
        }
    }

    /// The decoded status, whatever the variant.
    pub fn failure(&self) -> &Failure {
        match self {
            Self::AllCandidatesFailed(f)
            | Self::ContextOverflow(f)
            | Self::ContentPolicy(f)
            | Self::DeadlineExhausted(f)
            | Self::StreamInterrupted(f)
            | Self::UnknownTask(f)
            | Self::RequestNotFound(f)
            | Self::Unauthenticated(f)
            | Self::PermissionDenied(f)
            | Self::Internal(f)
            | Self::CredentialNotFound(f)
            | Self::NotRefreshable(f)
            | Self::RefreshFailed(f)
            | Self::Deadline(f)
            | Self::Transport(f)
            | Self::Other(f) => f,
            Self::InvalidArgument { failure, .. } => failure,
        }
    }

    /// The gRPC status code.
    pub fn code(&self) -> Code {
        self.failure().code
    }

    /// The status message.
    pub fn message(&self) -> &str {
        &self.failure().message
    }

    /// `ErrorInfo.reason`, such as `ALL_CANDIDATES_FAILED`, when there is one.
    pub fn reason(&self) -> Option<&str> {
        self.failure().reason.as_deref()
    }

    /// The failed request's id, when the fallback policy ran.
    pub fn request_id(&self) -> Option<&str> {
        self.failure().request_id.as_deref()
    }

    /// The attempt trail; empty when no candidate was considered.
    pub fn attempts(&self) -> &[pb::Attempt] {
        &self.failure().attempts
    }

    /// The invalid fields of an [`Error::InvalidArgument`]; empty otherwise.
    pub fn field_violations(&self) -> &[FieldViolation] {
        match self {
            Self::InvalidArgument {
                field_violations, ..
            } => field_violations,
            _ => &[],
        }
    }

    /// True for [`Error::Deadline`] and [`Error::DeadlineExhausted`]: the call's
    /// deadline (or the task timeout) passed, whoever noticed first.
    pub fn is_deadline(&self) -> bool {
        matches!(self, Self::Deadline(_) | Self::DeadlineExhausted(_))
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        Self::from_status(status)
    }
}

/// The generated [`pb::ErrorReason`] of an `ErrorInfo.reason`, which the server
/// sends without its `ERROR_REASON_` prefix; `Unspecified` when absent or unknown.
pub fn error_reason_of(reason: Option<&str>) -> pb::ErrorReason {
    reason
        .filter(|r| !r.is_empty())
        .and_then(|r| pb::ErrorReason::from_str_name(&format!("ERROR_REASON_{r}")))
        .unwrap_or(pb::ErrorReason::Unspecified)
}

/// Whether a call's deadline has passed, or is close enough that a `CANCELLED`
/// status is the deadline's doing.
pub(crate) fn deadline_passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() + DEADLINE_SLACK >= d)
}

fn failure_detail(status: &tonic::Status) -> Option<pb::FailureDetail> {
    if status.details().is_empty() {
        return None;
    }
    let st = tonic_types::pb::Status::decode(status.details()).ok()?;
    st.details
        .iter()
        .find(|any| any.type_url == FAILURE_DETAIL_TYPE_URL)
        .and_then(|any| pb::FailureDetail::decode(&*any.value).ok())
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, StatusExt as _};

    use super::*;

    /// Whether an error is of the expected variant.
    type IsVariant = fn(&Error) -> bool;

    fn with_info(code: Code, reason: &str, metadata: &[(&str, &str)]) -> tonic::Status {
        let metadata: HashMap<String, String> = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        tonic::Status::with_error_details(
            code,
            "msg",
            ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
        )
    }

    /// The status the server sends when every candidate fails.
    fn failure_status() -> tonic::Status {
        let info = tonic_types::pb::ErrorInfo {
            reason: "ALL_CANDIDATES_FAILED".into(),
            domain: ERROR_DOMAIN.into(),
            metadata: [("request_id".to_owned(), "r9".to_owned())].into(),
        };
        let detail = pb::FailureDetail {
            request_id: "r9".into(),
            attempts: vec![
                pb::Attempt {
                    provider: "main".into(),
                    model: "m".into(),
                    credential_id: "k".into(),
                    error_class: pb::ErrorClass::Server as i32,
                    http_status: 500,
                    action: pb::Action::NextCandidate as i32,
                    reason: "500".into(),
                    ..Default::default()
                },
                pb::Attempt {
                    error_class: pb::ErrorClass::None as i32,
                    action: pb::Action::GiveUp as i32,
                    reason: "no candidate left".into(),
                    ..Default::default()
                },
            ],
        };
        let message = "all candidates failed after 1 attempt(s) (request r9)";
        let status = tonic_types::pb::Status {
            code: Code::Unavailable as i32,
            message: message.into(),
            details: vec![
                prost_types::Any {
                    type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
                    value: info.encode_to_vec(),
                },
                prost_types::Any {
                    type_url: FAILURE_DETAIL_TYPE_URL.into(),
                    value: detail.encode_to_vec(),
                },
            ],
        };
        tonic::Status::with_details(Code::Unavailable, message, status.encode_to_vec().into())
    }

    #[test]
    fn the_failure_detail_gives_the_request_id_and_the_trail() {
        let e = Error::from_status(failure_status());
        let Error::AllCandidatesFailed(f) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(f.code, Code::Unavailable);
        assert_eq!(f.reason.as_deref(), Some("ALL_CANDIDATES_FAILED"));
        assert_eq!(f.error_reason(), pb::ErrorReason::AllCandidatesFailed);
        assert_eq!(e.request_id(), Some("r9"));
        assert_eq!(e.attempts().len(), 2);
        assert_eq!(e.attempts()[1].action(), pb::Action::GiveUp);
        assert!(!e.is_deadline());
        // The message already names the request: it is not repeated.
        assert_eq!(
            e.to_string(),
            "ALL_CANDIDATES_FAILED: all candidates failed after 1 attempt(s) (request r9)"
        );
    }

    #[test]
    fn every_reason_has_its_variant() {
        let cases: &[(&str, Code, IsVariant)] = &[
            ("CONTEXT_OVERFLOW", Code::OutOfRange, |e| {
                matches!(e, Error::ContextOverflow(_))
            }),
            ("CONTENT_POLICY", Code::FailedPrecondition, |e| {
                matches!(e, Error::ContentPolicy(_))
            }),
            ("DEADLINE_EXHAUSTED", Code::DeadlineExceeded, |e| {
                matches!(e, Error::DeadlineExhausted(_)) && e.is_deadline()
            }),
            ("UNKNOWN_TASK", Code::InvalidArgument, |e| {
                matches!(e, Error::UnknownTask(_))
            }),
            ("INVALID_ARGUMENT", Code::InvalidArgument, |e| {
                matches!(e, Error::InvalidArgument { .. })
            }),
            ("REQUEST_NOT_FOUND", Code::NotFound, |e| {
                matches!(e, Error::RequestNotFound(_))
            }),
            ("UNAUTHENTICATED", Code::Unauthenticated, |e| {
                matches!(e, Error::Unauthenticated(_))
            }),
            ("PERMISSION_DENIED", Code::PermissionDenied, |e| {
                matches!(e, Error::PermissionDenied(_))
            }),
            ("INTERNAL", Code::Internal, |e| {
                matches!(e, Error::Internal(_))
            }),
            ("CREDENTIAL_NOT_FOUND", Code::NotFound, |e| {
                matches!(e, Error::CredentialNotFound(_))
            }),
            ("NOT_REFRESHABLE", Code::FailedPrecondition, |e| {
                matches!(e, Error::NotRefreshable(_))
            }),
            ("REFRESH_FAILED", Code::Unavailable, |e| {
                matches!(e, Error::RefreshFailed(_))
            }),
            ("SOMETHING_NEWER", Code::Aborted, |e| {
                matches!(e, Error::Other(_))
                    && e.failure().error_reason() == pb::ErrorReason::Unspecified
            }),
        ];
        for (reason, code, is) in cases {
            let e = Error::from_status(with_info(*code, reason, &[("request_id", "r1")]));
            assert!(is(&e), "{reason}: {e:?}");
            assert_eq!(e.failure().error_reason(), error_reason_of(Some(reason)));
            assert_eq!((e.code(), e.reason()), (*code, Some(*reason)));
            assert_eq!(e.request_id(), Some("r1"), "{reason}");
            assert_eq!(e.to_string(), format!("{reason}: msg (request r1)"));
        }
    }

    /// No list of reasons kept by hand: every generated value is found by its wire
    /// name (its generated name without the prefix).
    #[test]
    fn every_generated_reason_is_decoded_from_its_wire_name() {
        let generated: Vec<pb::ErrorReason> = (0..64)
            .filter_map(|n| pb::ErrorReason::try_from(n).ok())
            .filter(|r| *r != pb::ErrorReason::Unspecified)
            .collect();
        assert!(generated.len() >= 14, "{generated:?}");
        for reason in generated {
            let wire = reason.as_str_name().trim_start_matches("ERROR_REASON_");
            assert_eq!(error_reason_of(Some(wire)), reason);
            let e = Error::from_status(with_info(Code::Aborted, wire, &[]));
            assert_eq!(e.failure().error_reason(), reason);
        }
        assert_eq!(error_reason_of(None), pb::ErrorReason::Unspecified);
        assert_eq!(
            error_reason_of(Some("ERROR_REASON_INTERNAL")),
            pb::ErrorReason::Unspecified
        );
    }

    #[test]
    fn statuses_without_details_are_typed_by_code() {
        let cases: &[(Code, IsVariant)] = &[
            (Code::DeadlineExceeded, |e| {
                matches!(e, Error::Deadline(_)) && e.is_deadline()
            }),
            (Code::InvalidArgument, |e| {
                matches!(e, Error::InvalidArgument { .. })
            }),
            (Code::Unauthenticated, |e| {
                matches!(e, Error::Unauthenticated(_))
            }),
            (Code::PermissionDenied, |e| {
                matches!(e, Error::PermissionDenied(_))
            }),
            (Code::Internal, |e| matches!(e, Error::Internal(_))),
            (Code::Unavailable, |e| matches!(e, Error::Transport(_))),
            (Code::Cancelled, |e| matches!(e, Error::Other(_))),
            (Code::Unknown, |e| matches!(e, Error::Other(_))),
        ];
        for (code, is) in cases {
            let e = Error::from_status(tonic::Status::new(*code, "bare"));
            assert!(is(&e), "{code:?}: {e:?}");
            assert_eq!((e.reason(), e.request_id()), (None, None));
            assert!(e.attempts().is_empty());
            assert_eq!(e.to_string(), format!("{code:?}: bare"));
        }
        // tonic's channel enforces grpc-timeout with CANCELLED "Timeout expired".
        let cancelled = tonic::Status::cancelled("Timeout expired");
        let e = Error::decode(cancelled, true);
        assert!(matches!(e, Error::Deadline(_)), "{e:?}");
        assert_eq!(e.code(), Code::DeadlineExceeded);
        assert_eq!(e.failure().status.code(), Code::Cancelled);
    }

    #[test]
    fn bad_request_gives_the_field_violations() {
        let mut details = ErrorDetails::with_error_info("INVALID_ARGUMENT", ERROR_DOMAIN, []);
        details.add_bad_request_violation("temperature", "must be in [0, 2]");
        details.add_bad_request_violation("max_tokens", "must be positive");
        let e = Error::from_status(tonic::Status::with_error_details(
            Code::InvalidArgument,
            "invalid request",
            details,
        ));
        let Error::InvalidArgument {
            field_violations, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        let fields: Vec<_> = field_violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["temperature", "max_tokens"]);
        assert_eq!(e.field_violations()[0].description, "must be in [0, 2]");
    }

    #[test]
    fn an_error_info_of_another_domain_is_not_ours() {
        let status = tonic::Status::with_error_details(
            Code::Aborted,
            "x",
            ErrorDetails::with_error_info("ALL_CANDIDATES_FAILED", "example.com", []),
        );
        let e = Error::from_status(status);
        assert!(matches!(e, Error::Other(_)), "{e:?}");
        assert_eq!(e.reason(), None);
        assert_eq!(e.failure().error_reason(), pb::ErrorReason::Unspecified);
    }

    #[test]
    fn errors_and_clients_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Error>();
        send_sync::<crate::Client>();
        send_sync::<crate::CallOptions>();
    }

    #[test]
    fn local_failures() {
        let e = Error::client_deadline(Duration::from_millis(500));
        assert!(matches!(e, Error::Deadline(_)) && e.code() == Code::DeadlineExceeded);
        let e = Error::invalid_locally("authorization", "bad");
        assert_eq!(e.field_violations()[0].field, "authorization");
        assert_eq!(e.failure().status.code(), Code::InvalidArgument);
    }
}
