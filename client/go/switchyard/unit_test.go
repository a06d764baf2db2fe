package switchyard_test

// Unit tests that need no switchyard binary: an in-process gRPC server over an
// in-memory connection stands in for the service.

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/switchyard-dev/switchyard/client/go/switchyard"
	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// stubService records the authorization metadata and the requests it receives,
// and answers with err when set.
type stubService struct {
	pb.UnimplementedSwitchyardServiceServer
	mu      sync.Mutex
	auth    [][]string
	explain []*pb.ExplainFallbackRequest
	aux     []*pb.AuxCompleteRequest
	err     error
}

func (s *stubService) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.auth = append(s.auth, md.Get("authorization"))
}

func (s *stubService) Complete(ctx context.Context, _ *pb.CompleteRequest) (*pb.CompleteResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(ctx)
	if s.err != nil {
		return nil, s.err
	}
	return &pb.CompleteResponse{RequestId: "r1", Content: "ok"}, nil
}

func (s *stubService) AuxComplete(ctx context.Context, r *pb.AuxCompleteRequest) (*pb.AuxCompleteResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(ctx)
	s.aux = append(s.aux, r)
	return &pb.AuxCompleteResponse{RequestId: "r2", Content: "ok"}, nil
}

func (s *stubService) ExplainFallback(ctx context.Context, r *pb.ExplainFallbackRequest) (*pb.ExplainFallbackResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(ctx)
	s.explain = append(s.explain, r)
	return &pb.ExplainFallbackResponse{Simulated: r.GetSimulation() != nil}, nil
}

func startStub(t *testing.T, svc *stubService, opts ...grpc.DialOption) *switchyard.Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pb.RegisterSwitchyardServiceServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///stub", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return switchyard.New(conn)
}

func TestBearerTokenTravelsAsAuthorizationMetadata(t *testing.T) {
	svc := &stubService{}
	c := startStub(t, svc)
	ctx := context.Background()
	msgs := []*pb.Message{switchyard.User("hi")}
	if _, err := c.Complete(ctx, msgs, switchyard.WithBearerToken("tok-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuxComplete(ctx, "compression", msgs, switchyard.WithBearerToken("tok-2")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExplainRequest(ctx, "id", switchyard.WithBearerToken("tok-3")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Simulate(ctx, &pb.Simulation{Caller: switchyard.PrimaryCaller()}, switchyard.WithBearerToken("tok-4")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Complete(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Bearer tok-1"}, {"Bearer tok-2"}, {"Bearer tok-3"}, {"Bearer tok-4"}, nil}
	if !slices.EqualFunc(svc.auth, want, slices.Equal) {
		t.Errorf("authorization metadata %q, want %q", svc.auth, want)
	}
}

func TestDefaultBearerTokenIsSentUnlessTheCallHasItsOwn(t *testing.T) {
	svc := &stubService{}
	c := startStub(t, svc, switchyard.DefaultBearerToken("default"))
	ctx := context.Background()
	msgs := []*pb.Message{switchyard.User("hi")}
	if _, err := c.Complete(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuxComplete(ctx, "compression", msgs, switchyard.WithBearerToken("per-call")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExplainRequest(ctx, "id"); err != nil {
		t.Fatal(err)
	}
	// Metadata set on the context by the caller wins too.
	own := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer from-context")
	if _, err := c.Simulate(own, &pb.Simulation{Caller: switchyard.PrimaryCaller()}); err != nil {
		t.Fatal(err)
	}
	// One value each: never the default next to a per-call token.
	want := [][]string{{"Bearer default"}, {"Bearer per-call"}, {"Bearer default"}, {"Bearer from-context"}}
	if !slices.EqualFunc(svc.auth, want, slices.Equal) {
		t.Errorf("authorization metadata %q, want %q", svc.auth, want)
	}

	// An empty default sends nothing.
	svc = &stubService{}
	c = startStub(t, svc, switchyard.DefaultBearerToken(""))
	if _, err := c.Complete(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{nil}; !slices.EqualFunc(svc.auth, want, slices.Equal) {
		t.Errorf("authorization metadata %q, want %q", svc.auth, want)
	}
}

func TestOptionsFillTheRequest(t *testing.T) {
	svc := &stubService{}
	c := startStub(t, svc)
	ctx := context.Background()
	if _, err := c.AuxComplete(ctx, "vision", []*pb.Message{switchyard.User("hi")},
		switchyard.WithModel("m"), switchyard.WithMaxTokens(5), switchyard.WithTemperature(0.5)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuxComplete(ctx, "vision", []*pb.Message{switchyard.User("hi")}); err != nil {
		t.Fatal(err)
	}
	want := &pb.AuxCompleteRequest{Task: "vision", Messages: []*pb.Message{switchyard.User("hi")},
		Model: proto.String("m"), MaxTokens: proto.Int32(5), Temperature: proto.Float64(0.5)}
	if !proto.Equal(svc.aux[0], want) {
		t.Errorf("request %v, want %v", svc.aux[0], want)
	}
	if r := svc.aux[1]; r.Model != nil || r.MaxTokens != nil || r.Temperature != nil {
		t.Errorf("unset options were sent: %v", r)
	}

	// WithModel overrides the simulation's model without modifying the caller's value.
	sim := &pb.Simulation{Caller: switchyard.TaskCaller("vision"), Model: proto.String("mine"),
		Outcomes: []*pb.SimulatedOutcome{switchyard.HTTPOutcome(529, "{}"), switchyard.TransportOutcome(pb.TransportFailure_TRANSPORT_FAILURE_TIMEOUT)}}
	resp, err := c.Simulate(ctx, sim, switchyard.WithModel("other"))
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetSimulated() || svc.explain[0].GetSimulation().GetModel() != "other" || sim.GetModel() != "mine" {
		t.Errorf("simulation model: sent %q, caller's now %q", svc.explain[0].GetSimulation().GetModel(), sim.GetModel())
	}
	if got := svc.explain[0].GetSimulation().GetOutcomes(); len(got) != 2 || got[0].GetHttp().GetStatus() != 529 ||
		got[1].GetTransport() != pb.TransportFailure_TRANSPORT_FAILURE_TIMEOUT {
		t.Errorf("outcomes %v", got)
	}
}

// failureStatus is the status the server sends when every candidate fails.
func failureStatus(t *testing.T) error {
	t.Helper()
	st, err := status.New(codes.Unavailable, "all candidates failed after 1 attempt(s) (request r9)").WithDetails(
		&errdetails.ErrorInfo{Reason: "ALL_CANDIDATES_FAILED", Domain: switchyard.ErrorDomain,
			Metadata: map[string]string{"request_id": "r9"}},
		&pb.FailureDetail{RequestId: "r9", Attempts: []*pb.Attempt{
			{Provider: "main", Model: "m", CredentialId: "k", ErrorClass: pb.ErrorClass_ERROR_CLASS_SERVER,
				HttpStatus: 500, Action: pb.Action_ACTION_NEXT_CANDIDATE, Reason: "500"},
			{Action: pb.Action_ACTION_GIVE_UP, ErrorClass: pb.ErrorClass_ERROR_CLASS_NONE, Reason: "no candidate left"},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestErrorsAreDecodedFromTheStatusDetails(t *testing.T) {
	svc := &stubService{err: failureStatus(t)}
	c := startStub(t, svc)
	_, err := c.Complete(context.Background(), []*pb.Message{switchyard.User("hi")})

	if !errors.Is(err, switchyard.ErrAllCandidatesFailed) {
		t.Fatalf("want ErrAllCandidatesFailed, got %v", err)
	}
	for _, other := range []error{switchyard.ErrDeadline, switchyard.ErrContextOverflow, switchyard.ErrInvalidArgument,
		switchyard.ErrUnauthenticated, context.DeadlineExceeded} {
		if errors.Is(err, other) {
			t.Errorf("%v also matches %v", err, other)
		}
	}
	var e *switchyard.Error
	if !errors.As(err, &e) {
		t.Fatalf("%T", err)
	}
	if e.Code != codes.Unavailable || e.Reason != "ALL_CANDIDATES_FAILED" || e.RequestID != "r9" || len(e.Attempts) != 2 {
		t.Errorf("decoded %+v", e)
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("status.Code %v", status.Code(err))
	}
	if st, _ := status.FromError(err); len(st.Details()) != 2 {
		t.Errorf("status details lost: %v", st.Details())
	}
	want := "switchyard: ALL_CANDIDATES_FAILED: all candidates failed after 1 attempt(s) (request r9)"
	if err.Error() != want {
		t.Errorf("Error() %q, want %q", err.Error(), want)
	}
}

func TestFromError(t *testing.T) {
	if switchyard.FromError(nil) != nil {
		t.Error("nil is not nil")
	}
	plain := errors.New("plain")
	if switchyard.FromError(plain) != plain {
		t.Error("a non-status error is not returned as is")
	}
	converted := switchyard.FromError(failureStatus(t))
	if switchyard.FromError(converted) != converted {
		t.Error("an *Error is converted twice")
	}

	// The client's own deadline: no details, still ErrDeadline.
	err := switchyard.FromError(status.Error(codes.DeadlineExceeded, "context deadline exceeded"))
	if !errors.Is(err, switchyard.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Errorf("deadline: %v", err)
	}
	if err.Error() != "switchyard: DeadlineExceeded: context deadline exceeded" {
		t.Errorf("Error() %q", err.Error())
	}
	if !errors.Is(switchyard.FromError(status.Error(codes.Canceled, "x")), context.Canceled) {
		t.Error("canceled")
	}
	// Caller auth: by the reason the server sends, or by the code alone.
	for _, c := range []struct {
		code     codes.Code
		reason   string
		sentinel error
		other    error
	}{
		{codes.Unauthenticated, "UNAUTHENTICATED", switchyard.ErrUnauthenticated, switchyard.ErrPermissionDenied},
		{codes.PermissionDenied, "PERMISSION_DENIED", switchyard.ErrPermissionDenied, switchyard.ErrUnauthenticated},
	} {
		st, _ := status.New(c.code, "refused").WithDetails(&errdetails.ErrorInfo{Reason: c.reason, Domain: switchyard.ErrorDomain})
		byReason := switchyard.FromError(st.Err())
		if !errors.Is(byReason, c.sentinel) || errors.Is(byReason, c.other) || asError(t, byReason).Reason != c.reason {
			t.Errorf("%s: %v", c.reason, byReason)
		}
		if want := pb.ErrorReason(pb.ErrorReason_value["ERROR_REASON_"+c.reason]); asError(t, byReason).ErrorReason() != want || want == 0 {
			t.Errorf("%s: ErrorReason %v", c.reason, asError(t, byReason).ErrorReason())
		}
		if byCode := switchyard.FromError(status.Error(c.code, "x")); !errors.Is(byCode, c.sentinel) || errors.Is(byCode, c.other) {
			t.Errorf("%s without details: %v", c.code, byCode)
		}
	}

	// An ErrorInfo of another domain is not ours; BadRequest is read regardless.
	st, _ := status.New(codes.InvalidArgument, "bad").WithDetails(
		&errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: "example.com"},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "f", Description: "d"}}})
	var e *switchyard.Error
	if !errors.As(switchyard.FromError(st.Err()), &e) {
		t.Fatal("not an *Error")
	}
	if e.Reason != "" || errors.Is(e, switchyard.ErrInvalidArgument) ||
		!slices.Equal(e.FieldViolations, []switchyard.FieldViolation{{Field: "f", Description: "d"}}) {
		t.Errorf("decoded %+v", e)
	}
	if e.ErrorReason() != pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
		t.Errorf("ErrorReason %v", e.ErrorReason())
	}
}

func TestFormatTrail(t *testing.T) {
	attempts := []*pb.Attempt{
		{Provider: "codex", Model: "gpt-5-codex-mini", CredentialId: "codex-oauth",
			ErrorClass: pb.ErrorClass_ERROR_CLASS_AUTH_TERMINAL, HttpStatus: 401, Action: pb.Action_ACTION_NEXT_CANDIDATE,
			Reason: "401 token_invalidated: Your authentication token has been invalidated.; credential marked dead"},
		{Provider: "cheap", Model: "gemini-2.5-flash", ErrorClass: pb.ErrorClass_ERROR_CLASS_NONE,
			Action: pb.Action_ACTION_SKIP_CANDIDATE, Reason: "no live credential (1 cooling down)"},
		{Provider: "main", Model: "claude-sonnet-4-5", CredentialId: "main-key", ErrorClass: pb.ErrorClass_ERROR_CLASS_NONE,
			HttpStatus: 200, Action: pb.Action_ACTION_SUCCEED, Reason: "answered"},
		{ErrorClass: pb.ErrorClass_ERROR_CLASS_NONE, Action: pb.Action_ACTION_GIVE_UP, Reason: "no candidate left"},
		{Provider: "x", Model: "y", ErrorClass: pb.ErrorClass(99), Action: pb.Action(42), Reason: "from a newer server"},
	}
	want := "  #0 codex/gpt-5-codex-mini [codex-oauth] auth_terminal 401 -> next_candidate: 401 token_invalidated: Your authentication token has been invalidated.; credential marked dead\n" +
		"  #1 cheap/gemini-2.5-flash -> skip_candidate: no live credential (1 cooling down)\n" +
		"  #2 main/claude-sonnet-4-5 [main-key] 200 -> succeed: answered\n" +
		"  #3 - -> give_up: no candidate left\n" +
		"  #4 x/y 99 -> 42: from a newer server\n"
	if got := switchyard.FormatTrail(attempts); got != want {
		t.Errorf("FormatTrail:\n%s\nwant:\n%s", got, want)
	}
	if switchyard.FormatTrail(nil) != "" {
		t.Error("empty trail")
	}
}
