package switchyard_test

// AdminClient against the real server: put, list, delete and refresh
// credentials with the admin token, and each typed error of the admin API.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-dev/switchyard/client/go/switchyard"
	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// tokenEndpoint is an OAuth token endpoint: refresh token "good-refresh-token" gets a new
// access token, any other is refused with 400 invalid_grant.
type tokenEndpoint struct {
	url  string
	mu   sync.Mutex
	seen []string
}

func startTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	te := &tokenEndpoint{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refresh := r.PostFormValue("refresh_token")
		te.mu.Lock()
		te.seen = append(te.seen, refresh)
		te.mu.Unlock()
		w.Header().Set("content-type", "application/json")
		if refresh == "good-refresh-token" {
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "fresh-access", "expires_in": 3600})
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_grant"})
	}))
	t.Cleanup(srv.Close)
	te.url = srv.URL + "/token"
	return te
}

func (te *tokenEndpoint) refreshTokens() []string {
	te.mu.Lock()
	defer te.mu.Unlock()
	return slices.Clone(te.seen)
}

func dialAdmin(t *testing.T, srv *testServer) *switchyard.AdminClient {
	t.Helper()
	admin, err := switchyard.DialAdmin(srv.addr, switchyard.DefaultBearerToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return admin
}

func credentialIDs(list []*pb.CredentialInfo) []string {
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.GetId())
	}
	return ids
}

func TestAdmin(t *testing.T) {
	srv := startServer(t)
	admin := dialAdmin(t, srv)
	oauth := startTokenEndpoint(t)
	ctx := context.Background()

	t.Run("PutAPIKey stores a key the server then uses", func(t *testing.T) {
		info, err := admin.PutAPIKey(ctx, "main-new", "main", "secret-new-main", switchyard.WithLabel("rotated"), switchyard.WithPriority(-1))
		if err != nil {
			t.Fatal(err)
		}
		if info.GetId() != "main-new" || info.GetProvider() != "main" || info.GetLabel() != "rotated" || info.GetPriority() != -1 ||
			info.GetKind() != pb.CredentialKind_CREDENTIAL_KIND_API_KEY || info.GetState() != pb.CredentialState_CREDENTIAL_STATE_LIVE {
			t.Errorf("info %v", info)
		}
		if strings.Contains(info.String(), "secret-new-main") {
			t.Errorf("the answer holds the secret: %v", info)
		}
		resp, err := srv.client.Complete(ctx, []*pb.Message{switchyard.User("hi")})
		if err != nil {
			t.Fatal(err)
		}
		calls := srv.fakes.callsTo("main")
		if resp.GetServedBy().GetCredentialId() != "main-new" || calls[len(calls)-1].Authorization != "Bearer secret-new-main" {
			t.Errorf("served by %v, last call %+v", resp.GetServedBy(), calls[len(calls)-1])
		}
	})

	t.Run("ListCredentials lists all, or one provider's", func(t *testing.T) {
		all, err := admin.ListCredentials(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"main-k1", "codex-k1", "cheap-k1"} {
			if !slices.Contains(credentialIDs(all), id) {
				t.Errorf("%s not in %v", id, credentialIDs(all))
			}
		}
		codex, err := admin.ListCredentials(ctx, "codex")
		if err != nil || !slices.Equal(credentialIDs(codex), []string{"codex-k1"}) {
			t.Errorf("codex: %v %v", credentialIDs(codex), err)
		}
	})

	t.Run("DeleteCredential, then ErrCredentialNotFound", func(t *testing.T) {
		if _, err := admin.PutAPIKey(ctx, "to-delete", "cheap", "secret-to-delete"); err != nil {
			t.Fatal(err)
		}
		if err := admin.DeleteCredential(ctx, "to-delete"); err != nil {
			t.Fatal(err)
		}
		err := admin.DeleteCredential(ctx, "to-delete")
		if !errors.Is(err, switchyard.ErrCredentialNotFound) || status.Code(err) != codes.NotFound ||
			asError(t, err).ErrorReason() != pb.ErrorReason_ERROR_REASON_CREDENTIAL_NOT_FOUND {
			t.Errorf("second delete: %v", err)
		}
	})

	t.Run("RefreshCredential calls the token endpoint", func(t *testing.T) {
		put, err := admin.PutOAuth(ctx, "codex-oauth", "codex", &pb.OAuthTokens{
			AccessToken: "old-access", RefreshToken: "good-refresh-token", TokenUrl: oauth.url, ClientId: "switchyard-test",
		})
		if err != nil {
			t.Fatal(err)
		}
		info, err := admin.RefreshCredential(ctx, "codex-oauth")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(oauth.refreshTokens(), []string{"good-refresh-token"}) {
			t.Errorf("token endpoint saw %v", oauth.refreshTokens())
		}
		if info.GetState() != pb.CredentialState_CREDENTIAL_STATE_LIVE || info.GetGeneration() <= put.GetGeneration() || info.GetExpiresAtUnixMs() == 0 {
			t.Errorf("after refresh %v (put %v)", info, put)
		}
	})

	t.Run("a refused refresh is ErrRefreshFailed and the credential dies", func(t *testing.T) {
		if _, err := admin.PutOAuth(ctx, "codex-refused", "codex", &pb.OAuthTokens{
			AccessToken: "old-access", RefreshToken: "revoked-refresh-token", TokenUrl: oauth.url, ClientId: "switchyard-test",
		}); err != nil {
			t.Fatal(err)
		}
		_, err := admin.RefreshCredential(ctx, "codex-refused")
		if !errors.Is(err, switchyard.ErrRefreshFailed) || status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("refresh: %v", err)
		}
		list, _ := admin.ListCredentials(ctx, "codex")
		for _, c := range list {
			if c.GetId() == "codex-refused" && c.GetState() != pb.CredentialState_CREDENTIAL_STATE_DEAD {
				t.Errorf("state %v", c.GetState())
			}
		}
	})

	t.Run("refreshing a static key is ErrNotRefreshable", func(t *testing.T) {
		_, err := admin.RefreshCredential(ctx, "main-k1")
		if !errors.Is(err, switchyard.ErrNotRefreshable) || status.Code(err) != codes.FailedPrecondition {
			t.Errorf("refresh: %v", err)
		}
	})

	t.Run("an unknown provider is ErrInvalidArgument naming the field", func(t *testing.T) {
		_, err := admin.PutAPIKey(ctx, "x", "no-such-provider", "secret-x")
		if !errors.Is(err, switchyard.ErrInvalidArgument) {
			t.Fatalf("put: %v", err)
		}
		if v := asError(t, err).FieldViolations; len(v) != 1 || v[0].Field != "provider" {
			t.Errorf("violations %v", v)
		}
	})

	t.Run("an agent token is ErrPermissionDenied, none ErrUnauthenticated", func(t *testing.T) {
		_, err := admin.ListCredentials(ctx, "", switchyard.WithBearerToken(clientToken))
		if !errors.Is(err, switchyard.ErrPermissionDenied) || asError(t, err).ErrorReason() != pb.ErrorReason_ERROR_REASON_PERMISSION_DENIED {
			t.Errorf("agent token: %v", err)
		}
		anonymous, err := switchyard.DialAdmin(srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer anonymous.Close()
		if _, err := anonymous.ListCredentials(ctx, ""); !errors.Is(err, switchyard.ErrUnauthenticated) {
			t.Errorf("no token: %v", err)
		}
	})
}
