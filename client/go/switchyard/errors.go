package switchyard

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error of the service.
const ErrorDomain = "switchyard.dev"

// Sentinels for errors.Is. An *Error matches the sentinel of its reason: the
// ErrorInfo reason the server sent, looked up in the generated pb.ErrorReason
// enum (see Error.ErrorReason). ErrDeadline, ErrUnauthenticated and
// ErrPermissionDenied also match any status of their code, including the
// client's own deadline expiring before the server answered.
//
// The sentinels are aliases of generated values, not a list of strings: a
// reason added to the proto reaches this package by regeneration, as
// Error.ErrorReason(), and errors.Is(err, ReasonError(reason)) matches it.
var (
	// ErrAllCandidatesFailed: every candidate was tried or skipped and none answered.
	ErrAllCandidatesFailed error = ReasonError(pb.ErrorReason_ERROR_REASON_ALL_CANDIDATES_FAILED)
	// ErrContextOverflow: the request does not fit the model's context; shrink it.
	ErrContextOverflow error = ReasonError(pb.ErrorReason_ERROR_REASON_CONTEXT_OVERFLOW)
	// ErrContentPolicy: the provider refused the content.
	ErrContentPolicy error = ReasonError(pb.ErrorReason_ERROR_REASON_CONTENT_POLICY)
	// ErrDeadline: the deadline (the caller's, or the task timeout) left no time.
	ErrDeadline error = &sentinel{reason: pb.ErrorReason_ERROR_REASON_DEADLINE_EXHAUSTED, code: codes.DeadlineExceeded}
	// ErrUnknownTask: the task is neither built in nor defined by the config.
	ErrUnknownTask error = ReasonError(pb.ErrorReason_ERROR_REASON_UNKNOWN_TASK)
	// ErrInvalidArgument: a request field is invalid; see Error.FieldViolations.
	ErrInvalidArgument error = ReasonError(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)
	// ErrRequestNotFound: ExplainRequest found no trail for that request id.
	ErrRequestNotFound error = ReasonError(pb.ErrorReason_ERROR_REASON_REQUEST_NOT_FOUND)
	// ErrInternal: an internal failure of the service itself.
	ErrInternal error = ReasonError(pb.ErrorReason_ERROR_REASON_INTERNAL)
	// ErrUnauthenticated: the call carried no bearer token, or one the server
	// does not accept (reason UNAUTHENTICATED; also any Unauthenticated status).
	ErrUnauthenticated error = &sentinel{reason: pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED, code: codes.Unauthenticated}
	// ErrPermissionDenied: the token is valid but does not allow the call, e.g.
	// an agent token on the admin API (reason PERMISSION_DENIED; also any
	// PermissionDenied status).
	ErrPermissionDenied error = &sentinel{reason: pb.ErrorReason_ERROR_REASON_PERMISSION_DENIED, code: codes.PermissionDenied}
	// ErrCredentialNotFound: AdminClient, no credential has that id (NotFound).
	ErrCredentialNotFound error = ReasonError(pb.ErrorReason_ERROR_REASON_CREDENTIAL_NOT_FOUND)
	// ErrNotRefreshable: AdminClient.RefreshCredential on a static API key
	// (FailedPrecondition).
	ErrNotRefreshable error = ReasonError(pb.ErrorReason_ERROR_REASON_NOT_REFRESHABLE)
	// ErrRefreshFailed: AdminClient.RefreshCredential, the token endpoint
	// refused (FailedPrecondition: the credential is now dead) or failed
	// (Unavailable: try again).
	ErrRefreshFailed error = ReasonError(pb.ErrorReason_ERROR_REASON_REFRESH_FAILED)
	// ErrStreamInterrupted: a streamed answer (CompleteStream, AuxCompleteStream)
	// broke off after text reached the caller, so the text received is
	// incomplete. No other candidate was tried: the caller may retry the whole
	// request. Error.Interruption names the candidate (code Aborted).
	ErrStreamInterrupted error = ReasonError(pb.ErrorReason_ERROR_REASON_STREAM_INTERRUPTED)
)

// ReasonError returns the sentinel of a generated reason: errors.Is(err,
// ReasonError(r)) holds for an *Error whose ErrorReason() is r. The Err
// variables are such sentinels.
func ReasonError(reason pb.ErrorReason) error {
	return &sentinel{reason: reason}
}

type sentinel struct {
	reason pb.ErrorReason // matched when not UNSPECIFIED
	code   codes.Code     // matched too when not OK
}

func (s *sentinel) Error() string {
	if s.reason != pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
		return "switchyard: " + reasonName(s.reason)
	}
	return "switchyard: " + s.code.String()
}

// reasonPrefix starts every generated ErrorReason name; the server sends the
// rest of the name as ErrorInfo.reason.
const reasonPrefix = "ERROR_REASON_"

// reasonName is the wire form of a reason: its generated name without the prefix.
func reasonName(r pb.ErrorReason) string {
	return strings.TrimPrefix(r.String(), reasonPrefix)
}

// FieldViolation is one invalid request field of an InvalidArgument error.
type FieldViolation struct {
	// Field is the path of the field, e.g. "messages.role" or "temperature".
	Field string
	// Description says what is wrong with it.
	Description string
}

// Error is a failed call, decoded from the gRPC status and its details.
type Error struct {
	// Code is the gRPC status code, e.g. Unavailable for ALL_CANDIDATES_FAILED.
	Code codes.Code
	// Reason is the google.rpc.ErrorInfo reason, an ErrorReason name without
	// its ERROR_REASON_ prefix ("ALL_CANDIDATES_FAILED"...); empty when the
	// status came without one (e.g. the client's deadline expired first).
	Reason string
	// Message is the status message.
	Message string
	// RequestID identifies the failed request, for ExplainRequest; empty when
	// the failure happened before the request was served (validation...).
	RequestID string
	// Attempts is the trail of a failed Complete, AuxComplete or stream, in
	// order. The trail of an interrupted stream ends with ACTION_STOP_STREAM.
	Attempts []*pb.Attempt
	// FieldViolations lists the invalid fields of an InvalidArgument error.
	FieldViolations []FieldViolation
	// Metadata is the ErrorInfo metadata (request_id, task...).
	Metadata map[string]string
	// Interruption names the candidate whose streamed answer broke off, for
	// STREAM_INTERRUPTED (ErrStreamInterrupted); nil for any other error.
	Interruption *StreamInterruption

	err error // the status error returned by gRPC
}

// FromError converts an error of a call to the generated stub into an *Error.
// It returns nil for nil, and err itself when it is not a gRPC status error.
// The verbs of Client already return converted errors.
func FromError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e = &Error{Code: st.Code(), Message: st.Message(), err: err}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == ErrorDomain {
				e.Reason = d.GetReason()
				e.Metadata = d.GetMetadata()
			}
		case *pb.FailureDetail:
			e.RequestID = d.GetRequestId()
			e.Attempts = d.GetAttempts()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.FieldViolations = append(e.FieldViolations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	if e.RequestID == "" {
		e.RequestID = e.Metadata["request_id"]
	}
	if e.ErrorReason() == pb.ErrorReason_ERROR_REASON_STREAM_INTERRUPTED {
		e.Interruption = interruption(e.Metadata, e.Attempts)
	}
	return e
}

// StreamInterruption is the candidate whose streamed answer failed after text
// had reached the caller.
type StreamInterruption struct {
	// Provider is the provider name from the server's config.
	Provider string
	// Model is the model name sent to the provider.
	Model string
	// CandidateIndex is the position of the candidate in the caller's list, from 0.
	CandidateIndex uint32
	// ErrorClass classifies the failure: ERROR_CLASS_TRANSPORT for a dropped
	// connection, a truncated stream or an idle timeout; the class of its
	// error for an error event (ERROR_CLASS_SERVER...).
	ErrorClass pb.ErrorClass
}

// interruption reads the candidate from the ErrorInfo metadata (provider,
// model, candidate_index, error_class), and from the last step of the trail
// for what the metadata lacks.
func interruption(md map[string]string, attempts []*pb.Attempt) *StreamInterruption {
	in := &StreamInterruption{}
	if n := len(attempts); n > 0 {
		last := attempts[n-1]
		in = &StreamInterruption{Provider: last.GetProvider(), Model: last.GetModel(),
			CandidateIndex: last.GetCandidateIndex(), ErrorClass: last.GetErrorClass()}
	}
	if v, ok := md["provider"]; ok {
		in.Provider = v
	}
	if v, ok := md["model"]; ok {
		in.Model = v
	}
	if n, err := strconv.ParseUint(md["candidate_index"], 10, 32); err == nil {
		in.CandidateIndex = uint32(n)
	}
	if v := md["error_class"]; v != "" {
		if c, ok := pb.ErrorClass_value["ERROR_CLASS_"+strings.ToUpper(v)]; ok {
			in.ErrorClass = pb.ErrorClass(c)
		}
	}
	return in
}

// Error returns "switchyard: REASON: message" (or the status code when there is no reason).
func (e *Error) Error() string {
	what := e.Reason
	if what == "" {
		what = e.Code.String()
	}
	return fmt.Sprintf("switchyard: %s: %s", what, e.Message)
}

// ErrorReason returns Reason as the generated enum: the ERROR_REASON_ prefix
// added, looked up in pb.ErrorReason_value. ERROR_REASON_UNSPECIFIED when
// Reason is empty or newer than the generated code.
func (e *Error) ErrorReason() pb.ErrorReason {
	if e.Reason == "" {
		return pb.ErrorReason_ERROR_REASON_UNSPECIFIED
	}
	return pb.ErrorReason(pb.ErrorReason_value[reasonPrefix+e.Reason])
}

// Is reports whether e matches target: a sentinel of this package (see the
// Err variables), or context.DeadlineExceeded / context.Canceled for a status
// with the DeadlineExceeded / Canceled code.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	case context.Canceled:
		return e.Code == codes.Canceled
	}
	s, ok := target.(*sentinel)
	if !ok {
		return false
	}
	return (s.reason != pb.ErrorReason_ERROR_REASON_UNSPECIFIED && s.reason == e.ErrorReason()) ||
		(s.code != codes.OK && s.code == e.Code)
}

// Unwrap returns the status error returned by gRPC.
func (e *Error) Unwrap() error {
	return e.err
}

// GRPCStatus returns the status, so status.FromError and status.Code work on *Error.
func (e *Error) GRPCStatus() *status.Status {
	if st, ok := status.FromError(e.err); ok {
		return st
	}
	return status.New(e.Code, e.Message)
}
