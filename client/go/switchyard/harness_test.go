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

// reply is one scripted answer of a fake provider.
type reply struct {
	status int
	body   string
	delay  time.Duration
}

// call is one request a fake provider received.
type call struct {
	Authorization string
	Model         string
	Messages      []map[string]any
	MaxTokens     *int
	Temperature   *float64
}

// fakeProviders answers POST /{provider}/v1/chat/completions from per-provider
// scripts (then with a success) and records every call.
type fakeProviders struct {
	srv     *httptest.Server
	mu      sync.Mutex
	scripts map[string][]reply
	calls   map[string][]call
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
		Model       string           `json:"model"`
		Messages    []map[string]any `json:"messages"`
		MaxTokens   *int             `json:"max_tokens"`
		Temperature *float64         `json:"temperature"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":{"message":"unreadable body"}}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls[provider] = append(f.calls[provider], call{
		Authorization: r.Header.Get("Authorization"),
		Model:         body.Model,
		Messages:      body.Messages,
		MaxTokens:     body.MaxTokens,
		Temperature:   body.Temperature,
	})
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
	if rp.status == http.StatusOK && rp.body == "" {
		rp.body = completion(body.Model, "answer from "+provider)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rp.status)
	_, _ = w.Write([]byte(rp.body))
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
