package switchyard_test

// Integration tests of CompleteStream and AuxCompleteStream: the real server,
// fake providers streaming SSE over HTTP, the client over gRPC/TCP.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-dev/switchyard/client/go/switchyard"
	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// readAll reads s to its end and returns the pieces of text, in order.
func readAll(s *switchyard.Stream) []string {
	var pieces []string
	for s.Next() {
		pieces = append(pieces, s.Text())
	}
	return pieces
}

func wantServedBy(t *testing.T, s *switchyard.Stream, provider, model, credential string) {
	t.Helper()
	if got := s.ServedBy(); got.GetProvider() != provider || got.GetModel() != model || got.GetCredentialId() != credential {
		t.Fatalf("served by %v, want %s/%s [%s]", got, provider, model, credential)
	}
}

// wantStreamCall checks a provider was asked for an event stream with usage.
func wantStreamCall(t *testing.T, c call, provider, model string) {
	t.Helper()
	if !c.Stream || !c.IncludeUsage || c.Accept != "text/event-stream" {
		t.Errorf("%s: stream %v, include_usage %v, accept %q", provider, c.Stream, c.IncludeUsage, c.Accept)
	}
	if c.Authorization != "Bearer secret-of-"+provider+"-k1" || c.Model != model {
		t.Errorf("%s: authorization %q, model %q", provider, c.Authorization, c.Model)
	}
}

func TestCompleteStreamDeliversThePiecesInOrder(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	pieces := []string{"Hel", "lo, ", "wor", "ld", "!"}
	srv.fakes.push("main", reply{status: 200, pieces: pieces, pieceDelay: 10 * time.Millisecond})

	s, err := srv.client.CompleteStream(ctx,
		[]*pb.Message{switchyard.System("be brief"), switchyard.User("hello")},
		switchyard.WithMaxTokens(16), switchyard.WithTemperature(0.25))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Known as soon as the call returns, before any text is read.
	if s.RequestID() == "" || s.Started().GetRequestId() != s.RequestID() {
		t.Errorf("request id %q, started %v", s.RequestID(), s.Started())
	}
	wantServedBy(t, s, "main", "main-model", "main-k1")
	wantShape(t, "started", s.Started().GetAttempts(), "main/main-model [main-k1] none -> succeed")
	if s.Finished() != nil || s.Text() != "" || s.Content() != "" {
		t.Errorf("before Next: finished %v, text %q, content %q", s.Finished(), s.Text(), s.Content())
	}

	got := readAll(s)
	if err := s.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}
	if !slices.Equal(got, pieces) {
		t.Errorf("pieces %q, want %q", got, pieces)
	}
	if s.Content() != "Hello, world!" || s.Text() != "" {
		t.Errorf("content %q, text %q", s.Content(), s.Text())
	}
	fin := s.Finished()
	if fin == nil {
		t.Fatal("no finished event")
	}
	if fin.GetFinishReason() != "stop" || fin.GetUsage().GetInputTokens() != 12 || fin.GetUsage().GetOutputTokens() != 5 {
		t.Errorf("finished: reason %q, usage %v", fin.GetFinishReason(), fin.GetUsage())
	}
	if !sameAttempts(fin.GetAttempts(), s.Started().GetAttempts()) {
		t.Errorf("finished trail differs from started:\n%s---\n%s",
			switchyard.FormatTrail(fin.GetAttempts()), switchyard.FormatTrail(s.Started().GetAttempts()))
	}
	if s.Next() {
		t.Error("Next after the end")
	}
	if err := s.Close(); err != nil || s.Err() != nil {
		t.Errorf("Close after the end: %v, Err %v", err, s.Err())
	}

	wantCounts(t, srv.fakes, 1, 0, 0)
	c := srv.fakes.callsTo("main")[0]
	wantStreamCall(t, c, "main", "main-model")
	if c.MaxTokens == nil || *c.MaxTokens != 16 || c.Temperature == nil || *c.Temperature != 0.25 || len(c.Messages) != 2 {
		t.Errorf("upstream call: max_tokens %v, temperature %v, messages %v", c.MaxTokens, c.Temperature, c.Messages)
	}

	recorded, err := srv.client.ExplainRequest(ctx, s.RequestID())
	if err != nil {
		t.Fatal(err)
	}
	if recorded.GetOutcome() != pb.Outcome_OUTCOME_SUCCEEDED || !sameAttempts(recorded.GetSteps(), fin.GetAttempts()) {
		t.Errorf("recorded: outcome %v\n%s", recorded.GetOutcome(), switchyard.FormatTrail(recorded.GetSteps()))
	}

	// A plain reply streams its content; WithModel overrides the first candidate's model.
	s2, err := srv.client.CompleteStream(ctx, []*pb.Message{switchyard.User("again")}, switchyard.WithModel("override-model"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, want := readAll(s2), []string{"answer", " from", " main"}; !slices.Equal(got, want) || s2.Err() != nil {
		t.Errorf("pieces %q (want %q), Err %v", got, want, s2.Err())
	}
	wantServedBy(t, s2, "main", "override-model", "main-k1")
	if got := srv.fakes.callsTo("main")[1].Model; got != "override-model" {
		t.Errorf("upstream model %q", got)
	}
}

func TestAuxCompleteStreamTokenInvalidatedFallsThroughBeforeAnyText(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	pieces := []string{"The user ", "asked for ", "a summary."}
	srv.fakes.push("codex", reply{status: 401, body: tokenInvalidated})
	srv.fakes.push("cheap", reply{status: 200, pieces: pieces})

	s, err := srv.client.AuxCompleteStream(ctx, "compression", []*pb.Message{switchyard.User("Summarise the conversation so far.")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The failover happened before the stream opened: codex, then cheap, and the
	// main model (the last resort) was never needed.
	if got, want := srv.fakes.sequence(), []string{"codex", "cheap"}; !slices.Equal(got, want) {
		t.Fatalf("provider calls %q, want %q", got, want)
	}
	wantServedBy(t, s, "cheap", "cheap-model", "cheap-k1")
	started := s.Started().GetAttempts()
	wantShape(t, "started", started,
		"codex/codex-mini [codex-k1] auth_terminal -> next_candidate",
		"cheap/cheap-model [cheap-k1] none -> succeed")
	if started[0].GetHttpStatus() != 401 || !strings.Contains(started[0].GetReason(), "token_invalidated") {
		t.Errorf("first step: %d %q", started[0].GetHttpStatus(), started[0].GetReason())
	}

	// One clean stream: only cheap's text, in order.
	got := readAll(s)
	if err := s.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}
	if !slices.Equal(got, pieces) || s.Content() != "The user asked for a summary." {
		t.Errorf("pieces %q, content %q", got, s.Content())
	}
	fin := s.Finished()
	if fin.GetFinishReason() != "stop" || fin.GetUsage().GetOutputTokens() != 3 {
		t.Errorf("finished %v", fin)
	}
	if !sameAttempts(fin.GetAttempts(), started) {
		t.Errorf("finished trail differs from started:\n%s", switchyard.FormatTrail(fin.GetAttempts()))
	}
	trail := switchyard.FormatTrail(fin.GetAttempts())
	t.Logf("AuxCompleteStream(compression) -> %q\n%s", s.Content(), trail)
	lines := strings.Split(strings.TrimSuffix(trail, "\n"), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "  #0 codex/codex-mini [codex-k1] auth_terminal 401 -> next_candidate: 401 token_invalidated") ||
		lines[1] != "  #1 cheap/cheap-model [cheap-k1] 200 -> succeed: answered" {
		t.Errorf("FormatTrail:\n%s", trail)
	}

	// Exactly one call each, both asking for a stream; nothing after the end.
	wantCounts(t, srv.fakes, 0, 1, 1)
	wantStreamCall(t, srv.fakes.callsTo("codex")[0], "codex", "codex-mini")
	wantStreamCall(t, srv.fakes.callsTo("cheap")[0], "cheap", "cheap-model")

	// The codex key is dead now: the next stream skips it without contacting codex.
	again, err := srv.client.AuxCompleteStream(ctx, "compression", []*pb.Message{switchyard.User("And again.")})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := readAll(again); again.Err() != nil || strings.Join(got, "") != "answer from cheap" {
		t.Errorf("second stream: %q, %v", got, again.Err())
	}
	wantShape(t, "second stream", again.Finished().GetAttempts(),
		"codex/codex-mini [] none -> skip_candidate",
		"cheap/cheap-model [cheap-k1] none -> succeed")
	wantCounts(t, srv.fakes, 0, 1, 2)
}

// wantInterrupted checks err is the STREAM_INTERRUPTED error of s and returns it.
func wantInterrupted(t *testing.T, s *switchyard.Stream, err error) *switchyard.Error {
	t.Helper()
	if !errors.Is(err, switchyard.ErrStreamInterrupted) {
		t.Fatalf("want ErrStreamInterrupted, got %v", err)
	}
	for _, other := range []error{switchyard.ErrAllCandidatesFailed, switchyard.ErrDeadline, switchyard.ErrInternal} {
		if errors.Is(err, other) {
			t.Errorf("%v also matches %v", err, other)
		}
	}
	e := asError(t, err)
	if e.Code != codes.Aborted || status.Code(err) != codes.Aborted ||
		e.ErrorReason() != pb.ErrorReason_ERROR_REASON_STREAM_INTERRUPTED {
		t.Errorf("code %v, status.Code %v, reason %v", e.Code, status.Code(err), e.ErrorReason())
	}
	if e.RequestID != s.RequestID() || e.Metadata["request_id"] != s.RequestID() {
		t.Errorf("request id %q, metadata %v, stream's %q", e.RequestID, e.Metadata, s.RequestID())
	}
	if n := len(e.Attempts); n == 0 || e.Attempts[n-1].GetAction() != pb.Action_ACTION_STOP_STREAM {
		t.Errorf("the trail does not end with STOP_STREAM:\n%s", switchyard.FormatTrail(e.Attempts))
	}
	if s.Finished() != nil {
		t.Errorf("an interrupted stream has a finished event: %v", s.Finished())
	}
	if strings.Contains(err.Error(), "secret-of") {
		t.Errorf("error message %q", err.Error())
	}
	return e
}

func TestAuxCompleteStreamInterruptedAfterTextDoesNotFailOver(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	// codex answers two pieces, then its connection drops without [DONE].
	srv.fakes.push("codex", reply{status: 200, pieces: []string{"Partial ", "answer"}, end: streamDrop})

	s, err := srv.client.AuxCompleteStream(ctx, "compression", []*pb.Message{switchyard.User("compress this")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantServedBy(t, s, "codex", "codex-mini", "codex-k1")
	got := readAll(s)
	if !slices.Equal(got, []string{"Partial ", "answer"}) || s.Content() != "Partial answer" {
		t.Errorf("pieces %q, content %q", got, s.Content())
	}
	e := wantInterrupted(t, s, s.Err())
	t.Logf("%v\n%s", e, switchyard.FormatTrail(e.Attempts))
	want := switchyard.StreamInterruption{Provider: "codex", Model: "codex-mini", CandidateIndex: 0,
		ErrorClass: pb.ErrorClass_ERROR_CLASS_TRANSPORT}
	if e.Interruption == nil || *e.Interruption != want {
		t.Errorf("interruption %+v, want %+v", e.Interruption, want)
	}
	wantShape(t, "interrupted", e.Attempts,
		"codex/codex-mini [codex-k1] none -> succeed",
		"codex/codex-mini [codex-k1] transport -> stop_stream")

	// The text had reached the caller: cheap, the fallback chain, was not called,
	// and neither was main.
	if got, want := srv.fakes.sequence(), []string{"codex"}; !slices.Equal(got, want) {
		t.Errorf("provider calls %q, want %q", got, want)
	}
	wantCounts(t, srv.fakes, 0, 1, 0)

	recorded, err := srv.client.ExplainRequest(ctx, e.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if recorded.GetOutcome() != pb.Outcome_OUTCOME_FAILED ||
		recorded.GetErrorReason() != pb.ErrorReason_ERROR_REASON_STREAM_INTERRUPTED ||
		!sameAttempts(recorded.GetSteps(), e.Attempts) {
		t.Errorf("recorded: outcome %v, reason %v\n%s", recorded.GetOutcome(), recorded.GetErrorReason(),
			switchyard.FormatTrail(recorded.GetSteps()))
	}
}

func TestCompleteStreamErrorEventAfterTextIsInterrupted(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	srv.fakes.push("main", reply{status: 200, pieces: []string{"Hel"}, end: streamErrorEvent})

	s, err := srv.client.CompleteStream(ctx, []*pb.Message{switchyard.User("hello")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := readAll(s); !slices.Equal(got, []string{"Hel"}) {
		t.Errorf("pieces %q", got)
	}
	e := wantInterrupted(t, s, s.Err())
	want := switchyard.StreamInterruption{Provider: "main", Model: "main-model", CandidateIndex: 0,
		ErrorClass: pb.ErrorClass_ERROR_CLASS_SERVER}
	if e.Interruption == nil || *e.Interruption != want {
		t.Errorf("interruption %+v, want %+v", e.Interruption, want)
	}
	wantShape(t, "interrupted", e.Attempts,
		"main/main-model [main-k1] none -> succeed",
		"main/main-model [main-k1] server -> stop_stream")
	if r := e.Attempts[1].GetReason(); !strings.Contains(r, "stream error event") {
		t.Errorf("reason %q", r)
	}
	wantCounts(t, srv.fakes, 1, 0, 0)
}

func TestAuxCompleteStreamEveryCandidateFailingBeforeTextIsTheUnaryError(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	srv.fakes.push("codex", reply{status: 400, body: badRequest})
	// An error event before any text is an ordinary failed attempt.
	srv.fakes.push("cheap", reply{status: 200, pieces: []string{}, end: streamErrorEvent,
		errorEvent: `{"error":{"message":"bad","type":"invalid_request_error"}}`})
	srv.fakes.push("main", reply{status: 400, body: badRequest})

	s, err := srv.client.AuxCompleteStream(ctx, "compression", []*pb.Message{switchyard.User("compress this")})
	if s != nil {
		t.Fatalf("a stream opened: served by %v", s.ServedBy())
	}
	if !errors.Is(err, switchyard.ErrAllCandidatesFailed) || errors.Is(err, switchyard.ErrStreamInterrupted) {
		t.Fatalf("want ErrAllCandidatesFailed, got %v", err)
	}
	e := asError(t, err)
	t.Logf("%v\n%s", e, switchyard.FormatTrail(e.Attempts))
	if e.Code != codes.Unavailable || e.RequestID == "" || e.Interruption != nil {
		t.Errorf("code %v, request id %q, interruption %v", e.Code, e.RequestID, e.Interruption)
	}
	wantShape(t, "failed stream", e.Attempts,
		"codex/codex-mini [codex-k1] invalid_request -> next_candidate",
		"cheap/cheap-model [cheap-k1] invalid_request -> next_candidate",
		"main/main-model [main-k1] invalid_request -> next_candidate",
		"- [] none -> give_up")
	if got, want := srv.fakes.sequence(), []string{"codex", "cheap", "main"}; !slices.Equal(got, want) {
		t.Errorf("provider calls %q, want %q", got, want)
	}
}

func TestStreamCloseCancelsTheCall(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	srv.fakes.push("main", reply{status: 200, pieces: []string{"one", " two", " three"}, pieceDelay: 300 * time.Millisecond})

	s, err := srv.client.CompleteStream(ctx, []*pb.Message{switchyard.User("count")})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next() || s.Text() != "one" {
		t.Fatalf("first piece %q, Err %v", s.Text(), s.Err())
	}
	// Close from another goroutine while Next waits for the next piece.
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = s.Close()
	}()
	start := time.Now()
	if s.Next() {
		t.Fatalf("Next after Close returned %q", s.Text())
	}
	if waited := time.Since(start); waited > 250*time.Millisecond {
		t.Errorf("Next returned %v after Close", waited)
	}
	err = s.Err()
	if !errors.Is(err, context.Canceled) || asError(t, err).Code != codes.Canceled || errors.Is(err, switchyard.ErrStreamInterrupted) {
		t.Errorf("Err after Close: %v", err)
	}
	if s.Finished() != nil || s.Content() != "one" {
		t.Errorf("finished %v, content %q", s.Finished(), s.Content())
	}

	// The server sees the caller leave when it next forwards text, and records
	// the stream as interrupted by the caller, without trying anyone else.
	var recorded *pb.ExplainFallbackResponse
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if recorded, err = srv.client.ExplainRequest(ctx, s.RequestID()); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no recorded trail: %v", err)
	}
	steps := recorded.GetSteps()
	wantShape(t, "recorded", steps,
		"main/main-model [main-k1] none -> succeed",
		"main/main-model [main-k1] none -> stop_stream")
	if r := steps[1].GetReason(); !strings.Contains(r, "caller closed") {
		t.Errorf("reason %q", r)
	}
	wantCounts(t, srv.fakes, 1, 0, 0)
}
