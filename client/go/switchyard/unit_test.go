package switchyard_test

// Unit tests that need no switchyard binary: an in-process gRPC server over an
// in-memory connection stands in for the service.

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
// and answers with err when set. Its streams send events, then end with
// streamErr, or wait for the caller to leave when hold is set.
type stubService struct {
	pb.UnimplementedSwitchyardServiceServer
	mu        sync.Mutex
	auth      [][]string
	explain   []*pb.ExplainFallbackRequest
	aux       []*pb.AuxCompleteRequest
	auxStream []*pb.AuxCompleteStreamRequest
	err       error
	events    []stubEvent
	streamErr error
	hold      bool
}

// stubEvent is one event of a stub stream; none set is an event unknown to the client.
type stubEvent struct {
	started  *pb.StreamStarted
	delta    *string
	finished *pb.StreamFinished
}

func started(requestID string) stubEvent {
	return stubEvent{started: &pb.StreamStarted{RequestId: requestID,
		ServedBy: &pb.ServedBy{Provider: "p", Model: "m", CredentialId: "k"},
		Attempts: []*pb.Attempt{{Provider: "p", Model: "m", CredentialId: "k", Action: pb.Action_ACTION_SUCCEED}}}}
}

func delta(text string) stubEvent { return stubEvent{delta: &text} }

func finished(reason string) stubEvent {
	return stubEvent{finished: &pb.StreamFinished{FinishReason: reason, Usage: &pb.Usage{InputTokens: 3, OutputTokens: 2},
		Attempts: []*pb.Attempt{{Provider: "p", Model: "m", CredentialId: "k", Action: pb.Action_ACTION_SUCCEED}}}}
}

// runStream sends the scripted events through send, then ends as scripted.
func (s *stubService) runStream(ctx context.Context, send func(stubEvent) error) error {
	s.mu.Lock()
	s.record(ctx)
	events, streamErr, hold := s.events, s.streamErr, s.hold
	s.mu.Unlock()
	for _, e := range events {
		if err := send(e); err != nil {
			return err
		}
	}
	if hold {
		<-ctx.Done()
		return ctx.Err()
	}
	return streamErr
}

func (s *stubService) CompleteStream(_ *pb.CompleteStreamRequest, srv grpc.ServerStreamingServer[pb.CompleteStreamResponse]) error {
	return s.runStream(srv.Context(), func(e stubEvent) error {
		r := &pb.CompleteStreamResponse{}
		switch {
		case e.started != nil:
			r.Event = &pb.CompleteStreamResponse_Started{Started: e.started}
		case e.delta != nil:
			r.Event = &pb.CompleteStreamResponse_Delta{Delta: *e.delta}
		case e.finished != nil:
			r.Event = &pb.CompleteStreamResponse_Finished{Finished: e.finished}
		}
		return srv.Send(r)
	})
}

func (s *stubService) AuxCompleteStream(r *pb.AuxCompleteStreamRequest, srv grpc.ServerStreamingServer[pb.AuxCompleteStreamResponse]) error {
	s.mu.Lock()
	s.auxStream = append(s.auxStream, r)
	s.mu.Unlock()
	return s.runStream(srv.Context(), func(e stubEvent) error {
		r := &pb.AuxCompleteStreamResponse{}
		switch {
		case e.started != nil:
			r.Event = &pb.AuxCompleteStreamResponse_Started{Started: e.started}
		case e.delta != nil:
			r.Event = &pb.AuxCompleteStreamResponse_Delta{Delta: *e.delta}
		case e.finished != nil:
			r.Event = &pb.AuxCompleteStreamResponse_Finished{Finished: e.finished}
		}
		return srv.Send(r)
	})
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
	// Streaming calls too.
	svc.events = []stubEvent{started("r1"), finished("stop")}
	for _, open := range []func() (*switchyard.Stream, error){
		func() (*switchyard.Stream, error) { return c.CompleteStream(ctx, msgs) },
		func() (*switchyard.Stream, error) {
			return c.AuxCompleteStream(ctx, "compression", msgs, switchyard.WithBearerToken("per-call"))
		},
		func() (*switchyard.Stream, error) { return c.CompleteStream(own, msgs) },
	} {
		st, err := open()
		if err != nil {
			t.Fatal(err)
		}
		_ = st.Close()
	}
	// One value each: never the default next to a per-call token.
	want := [][]string{{"Bearer default"}, {"Bearer per-call"}, {"Bearer default"}, {"Bearer from-context"},
		{"Bearer default"}, {"Bearer per-call"}, {"Bearer from-context"}}
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

func TestStreamReadsStartedDeltasAndFinished(t *testing.T) {
	svc := &stubService{events: []stubEvent{started("r1"), delta("Hel"), {}, delta(""), delta("lo"), finished("length")}}
	c := startStub(t, svc)
	ctx := context.Background()

	for name, open := range map[string]func() (*switchyard.Stream, error){
		"CompleteStream": func() (*switchyard.Stream, error) {
			return c.CompleteStream(ctx, []*pb.Message{switchyard.User("hi")}, switchyard.WithBearerToken("tok"))
		},
		"AuxCompleteStream": func() (*switchyard.Stream, error) {
			return c.AuxCompleteStream(ctx, "vision", []*pb.Message{switchyard.User("hi")},
				switchyard.WithModel("m"), switchyard.WithMaxTokens(5), switchyard.WithTemperature(0.5))
		},
	} {
		s, err := open()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.RequestID() != "r1" || s.ServedBy().GetProvider() != "p" || len(s.Started().GetAttempts()) != 1 || s.Finished() != nil {
			t.Errorf("%s: started %v", name, s.Started())
		}
		// The unknown event is skipped; an empty delta is still a piece.
		var pieces []string
		for s.Next() {
			pieces = append(pieces, s.Text())
		}
		if want := []string{"Hel", "", "lo"}; !slices.Equal(pieces, want) || s.Content() != "Hello" || s.Err() != nil {
			t.Errorf("%s: pieces %q, content %q, Err %v", name, pieces, s.Content(), s.Err())
		}
		if f := s.Finished(); f.GetFinishReason() != "length" || f.GetUsage().GetOutputTokens() != 2 || len(f.GetAttempts()) != 1 {
			t.Errorf("%s: finished %v", name, f)
		}
		if s.Next() || s.Close() != nil || s.Err() != nil || s.Finished() == nil {
			t.Errorf("%s: after the end: Err %v", name, s.Err())
		}
	}
	want := &pb.AuxCompleteStreamRequest{Task: "vision", Messages: []*pb.Message{switchyard.User("hi")},
		Model: proto.String("m"), MaxTokens: proto.Int32(5), Temperature: proto.Float64(0.5)}
	if len(svc.auxStream) != 1 || !proto.Equal(svc.auxStream[0], want) {
		t.Errorf("request %v, want %v", svc.auxStream, want)
	}
}

func TestStreamFailureBeforeStartedIsTheCallsError(t *testing.T) {
	c := startStub(t, &stubService{streamErr: failureStatus(t)})
	s, err := c.CompleteStream(context.Background(), []*pb.Message{switchyard.User("hi")})
	if s != nil || !errors.Is(err, switchyard.ErrAllCandidatesFailed) {
		t.Fatalf("stream %v, err %v", s, err)
	}
	if e := asError(t, err); e.RequestID != "r9" || len(e.Attempts) != 2 || e.Interruption != nil {
		t.Errorf("decoded %+v", e)
	}
}

// interruptedStatus is the status of a stream that broke off after text was sent.
func interruptedStatus(t *testing.T, metadata map[string]string) error {
	t.Helper()
	st, err := status.New(codes.Aborted, "stream interrupted (request r7)").WithDetails(
		&errdetails.ErrorInfo{Reason: "STREAM_INTERRUPTED", Domain: switchyard.ErrorDomain, Metadata: metadata},
		&pb.FailureDetail{RequestId: "r7", Attempts: []*pb.Attempt{
			{CandidateIndex: 1, Provider: "p", Model: "m", CredentialId: "k", ErrorClass: pb.ErrorClass_ERROR_CLASS_NONE,
				HttpStatus: 200, Action: pb.Action_ACTION_SUCCEED, Reason: "answered"},
			{CandidateIndex: 1, Provider: "p", Model: "m", CredentialId: "k", ErrorClass: pb.ErrorClass_ERROR_CLASS_TRANSPORT,
				HttpStatus: 200, Action: pb.Action_ACTION_STOP_STREAM, Reason: "stream connection reset"},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestStreamInterruptedIsATypedError(t *testing.T) {
	md := map[string]string{"request_id": "r7", "provider": "p", "model": "m", "candidate_index": "1", "error_class": "transport"}
	svc := &stubService{events: []stubEvent{started("r7"), delta("Par")}, streamErr: interruptedStatus(t, md)}
	c := startStub(t, svc)
	s, err := c.CompleteStream(context.Background(), []*pb.Message{switchyard.User("hi")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Next() || s.Text() != "Par" || s.Next() {
		t.Fatalf("pieces: %q, Err %v", s.Content(), s.Err())
	}
	err = s.Err()
	if !errors.Is(err, switchyard.ErrStreamInterrupted) || errors.Is(err, switchyard.ErrAllCandidatesFailed) ||
		errors.Is(err, context.Canceled) {
		t.Fatalf("want only ErrStreamInterrupted, got %v", err)
	}
	e := asError(t, err)
	want := switchyard.StreamInterruption{Provider: "p", Model: "m", CandidateIndex: 1, ErrorClass: pb.ErrorClass_ERROR_CLASS_TRANSPORT}
	if e.Code != codes.Aborted || e.RequestID != "r7" || len(e.Attempts) != 2 || e.Interruption == nil || *e.Interruption != want {
		t.Errorf("decoded %+v, interruption %+v", e, e.Interruption)
	}
	if e.ErrorReason() != pb.ErrorReason_ERROR_REASON_STREAM_INTERRUPTED || s.Finished() != nil || s.Content() != "Par" {
		t.Errorf("reason %v, finished %v, content %q", e.ErrorReason(), s.Finished(), s.Content())
	}
}

func TestFromErrorReadsTheInterruption(t *testing.T) {
	interruption := func(md map[string]string) switchyard.StreamInterruption {
		t.Helper()
		e := asError(t, switchyard.FromError(interruptedStatus(t, md)))
		if e.Interruption == nil {
			t.Fatalf("no interruption: %+v", e)
		}
		return *e.Interruption
	}
	fromTrail := switchyard.StreamInterruption{Provider: "p", Model: "m", CandidateIndex: 1, ErrorClass: pb.ErrorClass_ERROR_CLASS_TRANSPORT}
	// The metadata names the candidate.
	if got, want := interruption(map[string]string{"provider": "q", "model": "n", "candidate_index": "2", "error_class": "auth_terminal"}),
		(switchyard.StreamInterruption{Provider: "q", Model: "n", CandidateIndex: 2, ErrorClass: pb.ErrorClass_ERROR_CLASS_AUTH_TERMINAL}); got != want {
		t.Errorf("from metadata: %+v, want %+v", got, want)
	}
	// Without it, or with values this client cannot read, the last step does.
	if got := interruption(nil); got != fromTrail {
		t.Errorf("from the trail: %+v, want %+v", got, fromTrail)
	}
	if got := interruption(map[string]string{"candidate_index": "x", "error_class": "from_the_future"}); got != fromTrail {
		t.Errorf("unreadable metadata: %+v, want %+v", got, fromTrail)
	}
	// Without either, an empty interruption still says what happened.
	st, _ := status.New(codes.Aborted, "x").WithDetails(&errdetails.ErrorInfo{Reason: "STREAM_INTERRUPTED", Domain: switchyard.ErrorDomain})
	if e := asError(t, switchyard.FromError(st.Err())); e.Interruption == nil || *e.Interruption != (switchyard.StreamInterruption{}) ||
		!errors.Is(e, switchyard.ErrStreamInterrupted) {
		t.Errorf("bare: %+v", e)
	}
	// Other reasons have none.
	if e := asError(t, switchyard.FromError(failureStatus(t))); e.Interruption != nil {
		t.Errorf("ALL_CANDIDATES_FAILED has an interruption: %+v", e.Interruption)
	}
}

func TestStreamProtocolViolationsAreErrors(t *testing.T) {
	ctx := context.Background()
	msgs := []*pb.Message{switchyard.User("hi")}
	for name, events := range map[string][]stubEvent{
		"no event":          nil,
		"a delta first":     {delta("x"), finished("stop")},
		"an unknown first":  {{}, started("r1"), finished("stop")},
		"a finished first":  {finished("stop")},
		"no started at all": {delta("x")},
	} {
		s, err := startStub(t, &stubService{events: events}).CompleteStream(ctx, msgs)
		if s != nil || asError(t, err).Code != codes.Internal {
			t.Errorf("%s: stream %v, err %v", name, s, err)
		}
	}
	for name, c := range map[string]struct {
		events []stubEvent
		pieces int
	}{
		"no finished event":    {[]stubEvent{started("r1"), delta("x")}, 1},
		"a second started":     {[]stubEvent{started("r1"), delta("x"), started("r2"), finished("stop")}, 1},
		"only a started event": {[]stubEvent{started("r1")}, 0},
	} {
		s, err := startStub(t, &stubService{events: c.events}).CompleteStream(ctx, msgs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := 0
		for s.Next() {
			n++
		}
		// Never a truncated answer presented as complete.
		if err := s.Err(); n != c.pieces || asError(t, err).Code != codes.Internal || s.Finished() != nil {
			t.Errorf("%s: %d pieces, Err %v, finished %v", name, n, err, s.Finished())
		}
	}
}

func TestStreamCloseAbortsAWaitingNext(t *testing.T) {
	svc := &stubService{events: []stubEvent{started("r1"), delta("a")}, hold: true}
	c := startStub(t, svc)
	s, err := c.CompleteStream(context.Background(), []*pb.Message{switchyard.User("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next() || s.Text() != "a" {
		t.Fatalf("first piece: %q, Err %v", s.Text(), s.Err())
	}
	time.AfterFunc(20*time.Millisecond, func() { _ = s.Close() })
	if s.Next() {
		t.Fatal("Next after Close")
	}
	if err := s.Err(); !errors.Is(err, context.Canceled) || asError(t, err).Code != codes.Canceled || s.Finished() != nil {
		t.Errorf("Err %v, finished %v", err, s.Finished())
	}
	if s.Close() != nil || s.Next() {
		t.Error("a second Close")
	}

	// Closed before any Next: Next returns false at once.
	s, err = c.CompleteStream(context.Background(), []*pb.Message{switchyard.User("hi")})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if s.Next() || !errors.Is(s.Err(), context.Canceled) {
		t.Errorf("Next after Close: %q, Err %v", s.Text(), s.Err())
	}

	// The context's deadline bounds the stream.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s, err = c.CompleteStream(ctx, []*pb.Message{switchyard.User("hi")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for s.Next() {
	}
	if err := s.Err(); !errors.Is(err, switchyard.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
}

// Every generated reason is decoded from its wire name (the generated name
// without its ERROR_REASON_ prefix) and matched by its sentinel: no list of
// strings is kept by hand.
func TestEveryGeneratedReasonIsDecodedAndMatched(t *testing.T) {
	sentinels := map[pb.ErrorReason]error{
		pb.ErrorReason_ERROR_REASON_ALL_CANDIDATES_FAILED: switchyard.ErrAllCandidatesFailed,
		pb.ErrorReason_ERROR_REASON_CONTEXT_OVERFLOW:      switchyard.ErrContextOverflow,
		pb.ErrorReason_ERROR_REASON_CONTENT_POLICY:        switchyard.ErrContentPolicy,
		pb.ErrorReason_ERROR_REASON_DEADLINE_EXHAUSTED:    switchyard.ErrDeadline,
		pb.ErrorReason_ERROR_REASON_UNKNOWN_TASK:          switchyard.ErrUnknownTask,
		pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT:      switchyard.ErrInvalidArgument,
		pb.ErrorReason_ERROR_REASON_REQUEST_NOT_FOUND:     switchyard.ErrRequestNotFound,
		pb.ErrorReason_ERROR_REASON_INTERNAL:              switchyard.ErrInternal,
		pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED:       switchyard.ErrUnauthenticated,
		pb.ErrorReason_ERROR_REASON_PERMISSION_DENIED:     switchyard.ErrPermissionDenied,
		pb.ErrorReason_ERROR_REASON_CREDENTIAL_NOT_FOUND:  switchyard.ErrCredentialNotFound,
		pb.ErrorReason_ERROR_REASON_NOT_REFRESHABLE:       switchyard.ErrNotRefreshable,
		pb.ErrorReason_ERROR_REASON_REFRESH_FAILED:        switchyard.ErrRefreshFailed,
		pb.ErrorReason_ERROR_REASON_STREAM_INTERRUPTED:    switchyard.ErrStreamInterrupted,
	}
	values := pb.ErrorReason(0).Descriptor().Values()
	for i := 0; i < values.Len(); i++ {
		reason := pb.ErrorReason(values.Get(i).Number())
		if reason == pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			continue
		}
		wire := strings.TrimPrefix(string(values.Get(i).Name()), "ERROR_REASON_")
		// FailedPrecondition is the code of none of the code-matching sentinels.
		st, _ := status.New(codes.FailedPrecondition, "x").WithDetails(&errdetails.ErrorInfo{Reason: wire, Domain: switchyard.ErrorDomain})
		err := switchyard.FromError(st.Err())
		if got := asError(t, err).ErrorReason(); got != reason {
			t.Errorf("%s: ErrorReason %v", wire, got)
		}
		if !errors.Is(err, switchyard.ReasonError(reason)) {
			t.Errorf("%s: not ReasonError(%v)", wire, reason)
		}
		if s, ok := sentinels[reason]; ok && !errors.Is(err, s) {
			t.Errorf("%s: not its sentinel %v", wire, s)
		}
		if errors.Is(err, switchyard.ReasonError(pb.ErrorReason_ERROR_REASON_UNSPECIFIED)) {
			t.Errorf("%s matches the UNSPECIFIED sentinel", wire)
		}
	}
	// A reason newer than the generated code: kept as a string, UNSPECIFIED as an enum.
	st, _ := status.New(codes.Aborted, "x").WithDetails(&errdetails.ErrorInfo{Reason: "SOMETHING_NEW", Domain: switchyard.ErrorDomain})
	e := asError(t, switchyard.FromError(st.Err()))
	if e.Reason != "SOMETHING_NEW" || e.ErrorReason() != pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
		t.Errorf("new reason: %q %v", e.Reason, e.ErrorReason())
	}
	if switchyard.ErrCredentialNotFound.Error() != "switchyard: CREDENTIAL_NOT_FOUND" {
		t.Errorf("sentinel text %q", switchyard.ErrCredentialNotFound.Error())
	}
}
