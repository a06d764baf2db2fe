package switchyard_test

// Test harness: fake OpenAI-compatible providers (one HTTP server on 127.0.0.1,
// one path prefix per provider) and the real switchyard binary started on a
// fresh SQLite file in a temporary directory, with credentials added through
// its CLI, listening on 127.0.0.1:0.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/switchyard-dev/switchyard/client/go/switchyard"
)

// The three providers of the test config: main agent model, the explicit
// provider of the compression task, and its fallback chain.
var providerNames = []string{"main", "codex", "cheap"}

const tokenInvalidated = `{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}`

const badRequest = `{"error":{"message":"bad","type":"invalid_request_error"}}`

// Caller tokens of the test server: the config lists their SHA-256. srv.client
// sends clientToken by default; adminToken is an operator's, accepted on agent
// calls too.
const (
	clientToken = "sy_test-client-token"
	adminToken  = "sy_test-admin-token"
)

// tokenSHA256 is what auth.*_token_sha256 lists for token: lowercase hex.
func tokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// reply is one scripted answer of a fake provider. A success (status 200) to a
// request with "stream": true is an SSE stream: pieces (by default the content,
// split before each space), then the end (a finish reason, usage and [DONE]),
// unless the reply drops the connection or sends an error event instead.
type reply struct {
	status int
	body   string
	delay  time.Duration

	pieces     []string      // streamed text, one chunk each
	pieceDelay time.Duration // before each piece after the first
	end        streamEnd
	errorEvent string // the data of the error event of streamErrorEvent
	sse        string // a whole event stream, sent as it is
}

// streamEnd is how a fake stream ends after its pieces.
type streamEnd int

const (
	// streamDone: finish_reason "stop", usage, then [DONE].
	streamDone streamEnd = iota
	// streamDrop: the connection is closed without [DONE] or a finish reason.
	streamDrop
	// streamErrorEvent: a `data: {"error": {...}}` event, then the end of the body.
	streamErrorEvent
)

// serverErrorEvent is an OpenAI-style in-stream error; the server classifies
// it as a 500 (ERROR_CLASS_SERVER).
const serverErrorEvent = `{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`

// call is one request a fake provider received.
type call struct {
	Authorization string
	Accept        string
	Model         string
	Messages      []map[string]any
	MaxTokens     *int
	Temperature   *float64
	Stream        bool
	IncludeUsage  bool
	Body          map[string]any // the whole request body
}

// fakeProviders answers POST /{provider}/v1/chat/completions from per-provider
// scripts (then with a success) and records every call.
type fakeProviders struct {
	srv     *httptest.Server
	mu      sync.Mutex
	scripts map[string][]reply
	calls   map[string][]call
	order   []string // the provider of every call, in arrival order
}

func startFakes(t *testing.T) *fakeProviders {
	t.Helper()
	f := &fakeProviders{scripts: map[string][]reply{}, calls: map[string][]call{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProviders) baseURL(provider string) string {
	return f.srv.URL + "/" + provider + "/v1"
}

// push queues replies for the next calls to provider.
func (f *fakeProviders) push(provider string, replies ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[provider] = append(f.scripts[provider], replies...)
}

func (f *fakeProviders) callsTo(provider string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls[provider]...)
}

// sequence returns the provider of every call so far, in order.
func (f *fakeProviders) sequence() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.order...)
}

// counts returns the number of calls of each provider, keyed by name.
func (f *fakeProviders) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, p := range providerNames {
		out[p] = len(f.calls[p])
	}
	return out
}

func (f *fakeProviders) serve(w http.ResponseWriter, r *http.Request) {
	provider, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPost || rest != "v1/chat/completions" {
		http.Error(w, `{"error":{"message":"no such route"}}`, http.StatusNotFound)
		return
	}
	var body struct {
		Model         string           `json:"model"`
		Messages      []map[string]any `json:"messages"`
		MaxTokens     *int             `json:"max_tokens"`
		Temperature   *float64         `json:"temperature"`
		Stream        bool             `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	raw, err := io.ReadAll(r.Body)
	var whole map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err == nil {
		err = json.Unmarshal(raw, &whole)
	}
	if err != nil {
		http.Error(w, `{"error":{"message":"unreadable body"}}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls[provider] = append(f.calls[provider], call{
		Authorization: r.Header.Get("Authorization"),
		Accept:        r.Header.Get("Accept"),
		Model:         body.Model,
		Messages:      body.Messages,
		MaxTokens:     body.MaxTokens,
		Temperature:   body.Temperature,
		Stream:        body.Stream,
		IncludeUsage:  body.StreamOptions.IncludeUsage,
		Body:          whole,
	})
	f.order = append(f.order, provider)
	rp := reply{status: http.StatusOK}
	if q := f.scripts[provider]; len(q) > 0 {
		rp, f.scripts[provider] = q[0], q[1:]
	}
	f.mu.Unlock()

	if rp.delay > 0 {
		select {
		case <-time.After(rp.delay):
		case <-r.Context().Done():
			return
		}
	}
	if rp.sse != "" {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(rp.sse))
		return
	}
	if rp.status == http.StatusOK && body.Stream {
		if rp.pieces == nil {
			rp.pieces = splitPieces("answer from " + provider)
		}
		streamReply(w, r, body.Model, rp)
		return
	}
	if rp.status == http.StatusOK && rp.body == "" {
		content := "answer from " + provider
		if rp.pieces != nil {
			content = strings.Join(rp.pieces, "")
		}
		rp.body = completion(body.Model, content)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rp.status)
	_, _ = w.Write([]byte(rp.body))
}

// splitPieces cuts s before each space: "answer from main" streams as
// "answer", " from", " main".
func splitPieces(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s[1:], ' ')
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// streamReply writes rp as an OpenAI chat-completion SSE stream.
func streamReply(w http.ResponseWriter, r *http.Request, model string, rp reply) {
	flusher := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	event := func(data string) {
		_, _ = fmt.Fprintf(w, "data: %s\n\n", data)
		flusher.Flush()
	}
	event(chunk(model, map[string]any{"role": "assistant", "content": ""}, nil))
	for i, p := range rp.pieces {
		if i > 0 && rp.pieceDelay > 0 {
			select {
			case <-time.After(rp.pieceDelay):
			case <-r.Context().Done():
				return
			}
		}
		event(chunk(model, map[string]any{"content": p}, nil))
	}
	switch rp.end {
	case streamDone:
		event(chunk(model, map[string]any{}, "stop"))
		usage, _ := json.Marshal(map[string]any{
			"id": "x", "object": "chat.completion.chunk", "model": model, "choices": []any{},
			"usage": map[string]any{"prompt_tokens": 12, "completion_tokens": len(rp.pieces), "total_tokens": 12 + len(rp.pieces)},
		})
		event(string(usage))
		event("[DONE]")
	case streamDrop:
		// Everything so far is flushed; close the connection mid-body, without the
		// chunked encoding's last chunk.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	case streamErrorEvent:
		data := rp.errorEvent
		if data == "" {
			data = serverErrorEvent
		}
		event(data)
	}
}

// chunk is one chat.completion.chunk with delta and finishReason (nil or a string).
func chunk(model string, delta map[string]any, finishReason any) string {
	b, _ := json.Marshal(map[string]any{
		"id":     "x",
		"object": "chat.completion.chunk",
		"model":  model,
		"choices": []any{map[string]any{
			"index":         0,
			"delta":         delta,
			"finish_reason": finishReason,
		}},
	})
	return string(b)
}

func completion(model, content string) string {
	b, _ := json.Marshal(map[string]any{
		"id":     "x",
		"object": "chat.completion",
		"model":  model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content},
			"finish_reason": "stop",
		}},
		"usage": map[string]any{"prompt_tokens": 3, "completion_tokens": 2},
	})
	return string(b)
}

// testServer is a running switchyard process and a client connected to it.
type testServer struct {
	client *switchyard.Client // sends clientToken by default
	fakes  *fakeProviders
	addr   string
}

// dial returns a client of the server, closed at the end of the test.
func (s *testServer) dial(t *testing.T, opts ...grpc.DialOption) *switchyard.Client {
	t.Helper()
	client, err := switchyard.Dial(s.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// startServer starts the fakes and the real server with one credential per
// provider, "<provider>-k1" whose secret is "secret-of-<provider>-k1", and
// caller auth on: every call needs clientToken (or adminToken).
func startServer(t *testing.T) *testServer {
	t.Helper()
	bin := switchyardBin(t)
	fakes := startFakes(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "switchyard.yaml")
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
database: { path: %q }
providers:
  main:  { kind: openai, base_url: %q, timeout: 5s }
  codex: { kind: openai, base_url: %q, timeout: 5s }
  cheap: { kind: openai, base_url: %q, timeout: 5s }
model: { provider: main, model: main-model, timeout: 20s }
auxiliary:
  compression:
    provider: codex
    model: codex-mini
    fallback_chain: [ { provider: cheap, model: cheap-model } ]
policy: { backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }
auth:
  client_token_sha256: [ %q ]
  admin_token_sha256: [ %q ]
`, filepath.Join(dir, "switchyard.db"), fakes.baseURL("main"), fakes.baseURL("codex"), fakes.baseURL("cheap"),
		tokenSHA256(clientToken), tokenSHA256(adminToken))
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, p := range providerNames {
		id := p + "-k1"
		cmd := exec.Command(bin, "--config", config, "credentials", "add",
			"--provider", p, "--id", id, "--api-key-env", "SWITCHYARD_TEST_API_KEY")
		cmd.Env = append(os.Environ(), "SWITCHYARD_TEST_API_KEY=secret-of-"+id)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("credentials add %s: %v\n%s", id, err, out)
		}
	}

	logs := &lockedBuffer{}
	cmd := exec.Command(bin, "--config", config, "serve")
	cmd.Stderr = logs
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, r) // keep draining stdout
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("switchyard did not exit cleanly on SIGTERM: %v", err)
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Errorf("switchyard did not stop within 10 s of SIGTERM; killed")
			}
		}
		if t.Failed() {
			t.Logf("switchyard stderr:\n%s", logs.String())
		}
	})

	const prefix = "switchyard listening on "
	var addr string
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("unexpected first stdout line %q", line)
		}
		addr = strings.TrimPrefix(line, prefix)
	case err := <-exited:
		stopped = true
		t.Fatalf("switchyard exited before listening: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatalf("switchyard printed no listening line within 15 s")
	}

	srv := &testServer{fakes: fakes, addr: addr}
	// Every test through srv.client also proves the default token is sent.
	srv.client = srv.dial(t, switchyard.DefaultBearerToken(clientToken))
	return srv
}

// switchyardBin is $SWITCHYARD_BIN, else ${CARGO_TARGET_DIR:-<repo>/target}/debug/switchyard.
// A missing binary fails the test: these tests exist to run against the server.
func switchyardBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SWITCHYARD_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("SWITCHYARD_BIN=%s: %v", bin, err)
		}
		return bin
	}
	root := repoRoot(t)
	target := os.Getenv("CARGO_TARGET_DIR")
	switch {
	case target == "":
		target = filepath.Join(root, "target")
	case !filepath.IsAbs(target):
		target = filepath.Join(root, target)
	}
	bin := filepath.Join(target, "debug", "switchyard")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("switchyard binary not found at %s (SWITCHYARD_BIN is not set): "+
			"build it with `cargo build -p switchyard` in %s, or set SWITCHYARD_BIN or CARGO_TARGET_DIR", bin, root)
	}
	return bin
}

// repoRoot is the nearest ancestor of the working directory holding Cargo.toml and proto/.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if isFile(filepath.Join(d, "Cargo.toml")) && isDir(filepath.Join(d, "proto")) {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no repository root (Cargo.toml and proto/) above %s", dir)
		}
	}
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// lockedBuffer collects the server's stderr while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
