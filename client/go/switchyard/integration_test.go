package switchyard_test

// Integration tests: the real switchyard binary, fake providers over HTTP, and
// the client over gRPC/TCP. Each test has its own server, database and fakes.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/switchyard-dev/switchyard/client/go/switchyard"
	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// shape renders each step as "provider/model [credential] class -> action".
func shape(attempts []*pb.Attempt) []string {
	out := make([]string, 0, len(attempts))
	for _, a := range attempts {
		target := "-"
		if a.GetProvider() != "" {
			target = a.GetProvider() + "/" + a.GetModel()
		}
		class := strings.ToLower(strings.TrimPrefix(a.GetErrorClass().String(), "ERROR_CLASS_"))
		action := strings.ToLower(strings.TrimPrefix(a.GetAction().String(), "ACTION_"))
		out = append(out, fmt.Sprintf("%s [%s] %s -> %s", target, a.GetCredentialId(), class, action))
	}
	return out
}

// stepKeys is everything of each step but the free-text reason and the duration:
// what a simulation must share with the real call.
func stepKeys(attempts []*pb.Attempt) []string {
	out := make([]string, 0, len(attempts))
	for _, a := range attempts {
		out = append(out, fmt.Sprintf("%d %s %s [%s] %s %d %s", a.GetCandidateIndex(), a.GetProvider(),
			a.GetModel(), a.GetCredentialId(), a.GetErrorClass(), a.GetHttpStatus(), a.GetAction()))
	}
	return out
}

func sameAttempts(a, b []*pb.Attempt) bool {
	return slices.EqualFunc(a, b, func(x, y *pb.Attempt) bool { return proto.Equal(x, y) })
}

func wantShape(t *testing.T, what string, attempts []*pb.Attempt, want ...string) {
	t.Helper()
	if got := shape(attempts); !slices.Equal(got, want) {
		t.Fatalf("%s trail:\n got  %q\n want %q\n%s", what, got, want, switchyard.FormatTrail(attempts))
	}
}

func wantCounts(t *testing.T, f *fakeProviders, main, codex, cheap int) {
	t.Helper()
	want := map[string]int{"main": main, "codex": codex, "cheap": cheap}
	if got := f.counts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("provider calls: got %v, want %v", got, want)
	}
}

func asError(t *testing.T, err error) *switchyard.Error {
	t.Helper()
	var e *switchyard.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *switchyard.Error, got %T: %v", err, err)
	}
	return e
}

func fields(e *switchyard.Error) []string {
	var out []string
	for _, v := range e.FieldViolations {
		out = append(out, v.Field)
	}
	return out
}

func TestCompleteIsServedByTheMainModel(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)

	resp, err := srv.client.Complete(ctx,
		[]*pb.Message{switchyard.System("be brief"), switchyard.User("hello")},
		switchyard.WithMaxTokens(16), switchyard.WithTemperature(0.25),
		// The same token as the client's default, given per call.
		switchyard.WithBearerToken(clientToken))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetContent() != "answer from main" {
		t.Errorf("content %q", resp.GetContent())
	}
	if s := resp.GetServedBy(); s.GetProvider() != "main" || s.GetModel() != "main-model" || s.GetCredentialId() != "main-k1" {
		t.Errorf("served by %v", s)
	}
	if u := resp.GetUsage(); u.GetInputTokens() != 3 || u.GetOutputTokens() != 2 {
		t.Errorf("usage %v", u)
	}
	if resp.GetRequestId() == "" {
		t.Error("no request id")
	}
	wantShape(t, "Complete", resp.GetAttempts(), "main/main-model [main-k1] none -> succeed")
	wantCounts(t, srv.fakes, 1, 0, 0)

	c := srv.fakes.callsTo("main")[0]
	if c.Authorization != "Bearer secret-of-main-k1" || c.Model != "main-model" {
		t.Errorf("upstream call: authorization %q, model %q", c.Authorization, c.Model)
	}
	if c.MaxTokens == nil || *c.MaxTokens != 16 || c.Temperature == nil || *c.Temperature != 0.25 {
		t.Errorf("upstream call: max_tokens %v, temperature %v", c.MaxTokens, c.Temperature)
	}
	if len(c.Messages) != 2 || c.Messages[0]["role"] != "system" || c.Messages[1]["content"] != "hello" {
		t.Errorf("upstream messages %v", c.Messages)
	}

	// WithModel overrides the model of the first candidate.
	resp, err = srv.client.Complete(ctx, []*pb.Message{switchyard.User("again")}, switchyard.WithModel("override-model"))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.fakes.callsTo("main")[1].Model; got != "override-model" || resp.GetServedBy().GetModel() != "override-model" {
		t.Errorf("model override: upstream %q, served by %q", got, resp.GetServedBy().GetModel())
	}
}

func TestAuxCompleteTokenInvalidatedFallsThroughToTheChain(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	srv.fakes.push("codex", reply{status: 401, body: tokenInvalidated})

	resp, err := srv.client.AuxComplete(ctx, "compression", []*pb.Message{switchyard.User("Summarise the conversation so far.")})
	if err != nil {
		t.Fatal(err)
	}
	trail := switchyard.FormatTrail(resp.GetAttempts())
	t.Logf("AuxComplete(compression) -> %q\n%s", resp.GetContent(), trail)
	if resp.GetContent() != "answer from cheap" {
		t.Errorf("content %q", resp.GetContent())
	}
	if s := resp.GetServedBy(); s.GetProvider() != "cheap" || s.GetModel() != "cheap-model" || s.GetCredentialId() != "cheap-k1" {
		t.Errorf("served by %v", s)
	}
	wantShape(t, "AuxComplete", resp.GetAttempts(),
		"codex/codex-mini [codex-k1] auth_terminal -> next_candidate",
		"cheap/cheap-model [cheap-k1] none -> succeed")
	if got := resp.GetAttempts()[0].GetHttpStatus(); got != 401 {
		t.Errorf("first attempt http status %d", got)
	}
	lines := strings.Split(strings.TrimSuffix(trail, "\n"), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "  #0 codex/codex-mini [codex-k1] auth_terminal 401 -> next_candidate: 401 token_invalidated") ||
		lines[1] != "  #1 cheap/cheap-model [cheap-k1] 200 -> succeed: answered" {
		t.Errorf("FormatTrail:\n%s", trail)
	}
	wantCounts(t, srv.fakes, 0, 1, 1)
	if got := srv.fakes.callsTo("codex")[0].Authorization; got != "Bearer secret-of-codex-k1" {
		t.Errorf("codex authorization %q", got)
	}
	if got := srv.fakes.callsTo("cheap")[0]; got.Authorization != "Bearer secret-of-cheap-k1" || got.Model != "cheap-model" {
		t.Errorf("cheap call %+v", got)
	}

	// The codex key is dead now: the next call skips it without contacting codex.
	again, err := srv.client.AuxComplete(ctx, "compression", []*pb.Message{switchyard.User("And again.")})
	if err != nil {
		t.Fatal(err)
	}
	wantShape(t, "second AuxComplete", again.GetAttempts(),
		"codex/codex-mini [] none -> skip_candidate",
		"cheap/cheap-model [cheap-k1] none -> succeed")
	wantCounts(t, srv.fakes, 0, 1, 2)
}

func TestExplainFallbackSimulationAndRecordedTrail(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)

	simulated, err := srv.client.Simulate(ctx, &pb.Simulation{
		Caller:                   switchyard.TaskCaller("compression"),
		Outcomes:                 []*pb.SimulatedOutcome{switchyard.HTTPOutcome(401, tokenInvalidated)},
		AssumeAllCredentialsLive: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("simulation:\n%s", switchyard.FormatTrail(simulated.GetSteps()))
	if !simulated.GetSimulated() || simulated.GetRequestId() != "" || simulated.GetOutcome() != pb.Outcome_OUTCOME_SUCCEEDED {
		t.Errorf("simulation: simulated %v, request id %q, outcome %v",
			simulated.GetSimulated(), simulated.GetRequestId(), simulated.GetOutcome())
	}
	var candidates []string
	for _, c := range simulated.GetCandidates() {
		candidates = append(candidates, c.GetProvider()+"/"+c.GetModel()+" "+c.GetOrigin())
	}
	if want := []string{"codex/codex-mini task", "cheap/cheap-model task_chain[0]", "main/main-model main"}; !slices.Equal(candidates, want) {
		t.Errorf("candidates %q, want %q", candidates, want)
	}
	wantShape(t, "simulation", simulated.GetSteps(),
		"codex/codex-mini [codex-k1] auth_terminal -> next_candidate",
		"cheap/cheap-model [cheap-k1] none -> succeed")
	wantCounts(t, srv.fakes, 0, 0, 0) // a simulation contacts no provider

	// The real call with the same outcomes takes the same steps.
	srv.fakes.push("codex", reply{status: 401, body: tokenInvalidated})
	resp, err := srv.client.AuxComplete(ctx, "compression", []*pb.Message{switchyard.User("compress this")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepKeys(resp.GetAttempts()), stepKeys(simulated.GetSteps()); !slices.Equal(got, want) {
		t.Errorf("simulation and real call disagree:\n real %q\n sim  %q", got, want)
	}

	// The recorded trail, by request id, is the response's.
	recorded, err := srv.client.ExplainRequest(ctx, resp.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	if recorded.GetSimulated() || recorded.GetRequestId() != resp.GetRequestId() ||
		recorded.GetOutcome() != pb.Outcome_OUTCOME_SUCCEEDED || recorded.GetCaller().GetTask() != "compression" {
		t.Errorf("recorded: simulated %v, request id %q, outcome %v, caller %v",
			recorded.GetSimulated(), recorded.GetRequestId(), recorded.GetOutcome(), recorded.GetCaller())
	}
	if !sameAttempts(recorded.GetSteps(), resp.GetAttempts()) {
		t.Errorf("recorded trail differs from the response's:\n%s---\n%s",
			switchyard.FormatTrail(recorded.GetSteps()), switchyard.FormatTrail(resp.GetAttempts()))
	}
}

func TestEveryCandidateFailingIsATypedErrorWithTheTrail(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	for _, p := range providerNames {
		srv.fakes.push(p, reply{status: 400, body: badRequest})
	}

	_, err := srv.client.AuxComplete(ctx, "compression", []*pb.Message{switchyard.User("compress this")})
	if !errors.Is(err, switchyard.ErrAllCandidatesFailed) {
		t.Fatalf("want ErrAllCandidatesFailed, got %v", err)
	}
	if errors.Is(err, switchyard.ErrDeadline) || errors.Is(err, switchyard.ErrContextOverflow) {
		t.Errorf("%v matches another sentinel", err)
	}
	e := asError(t, err)
	t.Logf("%v\n%s", e, switchyard.FormatTrail(e.Attempts))
	if e.Code != codes.Unavailable || status.Code(err) != codes.Unavailable {
		t.Errorf("code %v, status.Code %v", e.Code, status.Code(err))
	}
	if e.Reason != "ALL_CANDIDATES_FAILED" || e.ErrorReason() != pb.ErrorReason_ERROR_REASON_ALL_CANDIDATES_FAILED {
		t.Errorf("reason %q", e.Reason)
	}
	if e.RequestID == "" || e.Metadata["request_id"] != e.RequestID {
		t.Errorf("request id %q, metadata %v", e.RequestID, e.Metadata)
	}
	wantShape(t, "failed AuxComplete", e.Attempts,
		"codex/codex-mini [codex-k1] invalid_request -> next_candidate",
		"cheap/cheap-model [cheap-k1] invalid_request -> next_candidate",
		"main/main-model [main-k1] invalid_request -> next_candidate",
		"- [] none -> give_up")
	wantCounts(t, srv.fakes, 1, 1, 1)
	if msg := err.Error(); !strings.Contains(msg, "ALL_CANDIDATES_FAILED") || strings.Contains(msg, "secret-of") {
		t.Errorf("error message %q", msg)
	}

	recorded, err := srv.client.ExplainRequest(ctx, e.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if recorded.GetOutcome() != pb.Outcome_OUTCOME_FAILED || recorded.GetErrorReason() != pb.ErrorReason_ERROR_REASON_ALL_CANDIDATES_FAILED {
		t.Errorf("recorded outcome %v, reason %v", recorded.GetOutcome(), recorded.GetErrorReason())
	}
	if !sameAttempts(recorded.GetSteps(), e.Attempts) {
		t.Errorf("recorded trail differs from the error's")
	}
}

func TestInvalidArgumentsCarryFieldViolations(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)

	_, err := srv.client.AuxComplete(ctx, "compression",
		[]*pb.Message{{Role: pb.Role_ROLE_UNSPECIFIED, Content: "no role"}},
		switchyard.WithModel(""), switchyard.WithMaxTokens(0), switchyard.WithTemperature(7))
	e := asError(t, err)
	if !errors.Is(err, switchyard.ErrInvalidArgument) || e.Code != codes.InvalidArgument {
		t.Errorf("want ErrInvalidArgument, got %v", err)
	}
	if got, want := fields(e), []string{"messages.role", "model", "max_tokens", "temperature"}; !slices.Equal(got, want) {
		t.Errorf("field violations %q, want %q", got, want)
	}
	for _, v := range e.FieldViolations {
		if v.Description == "" {
			t.Errorf("no description for %s", v.Field)
		}
	}
	if e.RequestID != "" || len(e.Attempts) != 0 {
		t.Errorf("a refused request has no trail: %q %v", e.RequestID, e.Attempts)
	}

	_, err = srv.client.Complete(ctx, nil)
	if e := asError(t, err); !errors.Is(err, switchyard.ErrInvalidArgument) || !slices.Equal(fields(e), []string{"messages"}) {
		t.Errorf("empty messages: %v %q", err, fields(e))
	}

	_, err = srv.client.AuxComplete(ctx, "astrology", []*pb.Message{switchyard.User("hi")})
	if e := asError(t, err); !errors.Is(err, switchyard.ErrUnknownTask) || e.Code != codes.InvalidArgument ||
		!slices.Equal(fields(e), []string{"task"}) || e.Metadata["task"] != "astrology" {
		t.Errorf("unknown task: %v %q %v", err, fields(e), e.Metadata)
	}

	_, err = srv.client.ExplainRequest(ctx, "nope")
	if e := asError(t, err); !errors.Is(err, switchyard.ErrInvalidArgument) || !slices.Equal(fields(e), []string{"request_id"}) {
		t.Errorf("malformed request id: %v %q", err, fields(e))
	}

	_, err = srv.client.ExplainRequest(ctx, "01900000-0000-7000-8000-000000000000")
	if e := asError(t, err); !errors.Is(err, switchyard.ErrRequestNotFound) || e.Code != codes.NotFound {
		t.Errorf("unknown request id: %v", err)
	}

	_, err = srv.client.Simulate(ctx, &pb.Simulation{})
	if e := asError(t, err); !errors.Is(err, switchyard.ErrInvalidArgument) || !slices.Equal(fields(e), []string{"simulation.caller"}) {
		t.Errorf("simulation without caller: %v %q", err, fields(e))
	}

	wantCounts(t, srv.fakes, 0, 0, 0)
}

func TestDeadlineExpires(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	// codex stalls past the caller's deadline; cheap, next in the chain, then has no
	// time left. (With a single candidate, the server currently reports a timeout of
	// the last candidate as ALL_CANDIDATES_FAILED, which would race the client's own
	// deadline; the chain makes the server's answer DEADLINE_EXHAUSTED.)
	srv.fakes.push("codex", reply{status: 200, delay: 3 * time.Second})

	ctx, cancel := context.WithTimeout(testContext(t), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := srv.client.AuxComplete(ctx, "compression", []*pb.Message{switchyard.User("compress this")})
	elapsed := time.Since(start)

	if !errors.Is(err, switchyard.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want ErrDeadline, got %v", err)
	}
	e := asError(t, err)
	if e.Code != codes.DeadlineExceeded {
		t.Errorf("code %v", e.Code)
	}
	if elapsed > 2*time.Second {
		t.Errorf("the call took %v despite a 500 ms deadline", elapsed)
	}
	// Either the server answered DEADLINE_EXHAUSTED with its trail just before the
	// client's deadline, or the client's deadline fired first (no details).
	if e.Reason != "" {
		if e.Reason != "DEADLINE_EXHAUSTED" || len(e.Attempts) == 0 || e.Attempts[0].GetProvider() != "codex" {
			t.Errorf("server answer %v:\n%s", e, switchyard.FormatTrail(e.Attempts))
		}
		t.Logf("server answered first after %v: %v\n%s", elapsed, e, switchyard.FormatTrail(e.Attempts))
	} else {
		t.Logf("client deadline fired first after %v: %v", elapsed, e)
	}
	wantCounts(t, srv.fakes, 0, 1, 0) // no attempt started without the budget to finish
}

// everyMethod is one call of each SwitchyardService method, with opts.
func everyMethod(ctx context.Context, c *switchyard.Client, opts ...switchyard.Option) map[string]func() error {
	msgs := []*pb.Message{switchyard.User("hi")}
	return map[string]func() error{
		"Complete": func() error {
			_, err := c.Complete(ctx, msgs, opts...)
			return err
		},
		"AuxComplete": func() error {
			_, err := c.AuxComplete(ctx, "compression", msgs, opts...)
			return err
		},
		"Simulate": func() error {
			_, err := c.Simulate(ctx, &pb.Simulation{Caller: switchyard.PrimaryCaller()}, opts...)
			return err
		},
		"ExplainRequest": func() error {
			_, err := c.ExplainRequest(ctx, "01900000-0000-7000-8000-000000000000", opts...)
			return err
		},
		"CompleteStream": func() error {
			s, err := c.CompleteStream(ctx, msgs, opts...)
			if err == nil {
				_ = s.Close()
			}
			return err
		},
		"AuxCompleteStream": func() error {
			s, err := c.AuxCompleteStream(ctx, "compression", msgs, opts...)
			if err == nil {
				_ = s.Close()
			}
			return err
		},
	}
}

// wantUnauthenticated checks err is the server's refusal of the caller.
func wantUnauthenticated(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, switchyard.ErrUnauthenticated) || errors.Is(err, switchyard.ErrPermissionDenied) {
		t.Fatalf("%s: want ErrUnauthenticated, got %v", what, err)
	}
	e := asError(t, err)
	if e.Code != codes.Unauthenticated || e.Reason != "UNAUTHENTICATED" ||
		e.ErrorReason() != pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED || e.RequestID != "" || len(e.Attempts) != 0 {
		t.Errorf("%s: code %v, reason %q, request id %q, %d attempts", what, e.Code, e.Reason, e.RequestID, len(e.Attempts))
	}
}

func TestCallRefusedWithoutToken(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)

	anonymous := srv.dial(t)
	for name, call := range everyMethod(ctx, anonymous) {
		wantUnauthenticated(t, name+" without a token", call())
	}
	// An empty default sends no token either.
	for name, call := range everyMethod(ctx, srv.dial(t, switchyard.DefaultBearerToken(""))) {
		wantUnauthenticated(t, name+" with an empty default token", call())
	}
	wantCounts(t, srv.fakes, 0, 0, 0)
}

func TestCallRefusedWithAWrongToken(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	const wrong = "sy_not-a-configured-token"

	for name, call := range everyMethod(ctx, srv.dial(t), switchyard.WithBearerToken(wrong)) {
		err := call()
		wantUnauthenticated(t, name+" with a wrong per-call token", err)
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("the server echoes the token: %v", err)
		}
	}
	for name, call := range everyMethod(ctx, srv.dial(t, switchyard.DefaultBearerToken(wrong))) {
		wantUnauthenticated(t, name+" with a wrong default token", call())
	}
	// The hash the config lists is not a token.
	_, err := srv.client.Complete(ctx, []*pb.Message{switchyard.User("hi")}, switchyard.WithBearerToken(tokenSHA256(clientToken)))
	wantUnauthenticated(t, "the token's hash", err)
	// A wrong per-call token overrides a right default.
	_, err = srv.client.AuxComplete(ctx, "compression", []*pb.Message{switchyard.User("hi")}, switchyard.WithBearerToken(wrong))
	wantUnauthenticated(t, "a wrong per-call token over the right default", err)
	wantCounts(t, srv.fakes, 0, 0, 0)
}

func TestTheRightTokenPerCallOrByDefaultIsAccepted(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	msgs := []*pb.Message{switchyard.User("hi")}

	// Per call, on a client without a default; an admin token is accepted too.
	anonymous := srv.dial(t)
	for _, token := range []string{clientToken, adminToken} {
		resp, err := anonymous.Complete(ctx, msgs, switchyard.WithBearerToken(token))
		if err != nil || resp.GetContent() != "answer from main" {
			t.Fatalf("Complete with a per-call token: %v %v", resp, err)
		}
		recorded, err := anonymous.ExplainRequest(ctx, resp.GetRequestId(), switchyard.WithBearerToken(token))
		if err != nil || !sameAttempts(recorded.GetSteps(), resp.GetAttempts()) {
			t.Fatalf("ExplainRequest with a per-call token: %v %v", recorded, err)
		}
	}
	// As the connection's default.
	resp, err := srv.client.AuxComplete(ctx, "compression", msgs)
	if err != nil || resp.GetContent() != "answer from codex" {
		t.Fatalf("AuxComplete with the default token: %v %v", resp, err)
	}
	if _, err := srv.client.Simulate(ctx, &pb.Simulation{Caller: switchyard.PrimaryCaller()}); err != nil {
		t.Fatalf("Simulate with the default token: %v", err)
	}
	// A right per-call token overrides a wrong default.
	wrongDefault := srv.dial(t, switchyard.DefaultBearerToken("sy_wrong"))
	if _, err := wrongDefault.Complete(ctx, msgs, switchyard.WithBearerToken(clientToken)); err != nil {
		t.Fatalf("the right per-call token over a wrong default: %v", err)
	}
	wantCounts(t, srv.fakes, 3, 1, 0)
	// The caller's token never reaches a provider: the server sends its own key.
	for _, p := range providerNames {
		for _, c := range srv.fakes.callsTo(p) {
			if c.Authorization != "Bearer secret-of-"+p+"-k1" {
				t.Errorf("%s received authorization %q", p, c.Authorization)
			}
		}
	}
}
