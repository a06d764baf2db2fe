package switchyard

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// AdminClient calls the admin API, switchyard.v1.CredentialService: it puts,
// lists, deletes and refreshes the provider credentials of a running server.
// The server accepts only a token whose SHA-256 its config lists in
// auth.admin_token_sha256: dial with DefaultBearerToken(adminToken), or pass
// WithBearerToken per call. Secrets go in and never come out: every answer is
// a *pb.CredentialInfo. It is safe for concurrent use.
//
// A failure is an *Error: ErrPermissionDenied (a token that is not an admin
// token, or the admin API is off), ErrUnauthenticated (no token),
// ErrCredentialNotFound, ErrNotRefreshable, ErrRefreshFailed, or
// ErrInvalidArgument with FieldViolations.
type AdminClient struct {
	rpc  pb.CredentialServiceClient
	conn *grpc.ClientConn // set when the client owns the connection (DialAdmin)
}

// DialAdmin creates an admin client for target (e.g. "127.0.0.1:50051"), as
// Dial does: plaintext unless opts give TLS credentials, connected lazily.
func DialAdmin(target string, opts ...grpc.DialOption) (*AdminClient, error) {
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, err
	}
	return &AdminClient{rpc: pb.NewCredentialServiceClient(conn), conn: conn}, nil
}

// NewAdmin creates an admin client over an existing connection, which the
// caller keeps owning: Close does not close it.
func NewAdmin(conn grpc.ClientConnInterface) *AdminClient {
	return &AdminClient{rpc: pb.NewCredentialServiceClient(conn)}
}

// Close closes the connection created by DialAdmin; it does nothing for a
// client made with NewAdmin.
func (a *AdminClient) Close() error {
	if a.conn == nil {
		return nil
	}
	return a.conn.Close()
}

// Service returns the generated stub, for what the verbs do not cover.
func (a *AdminClient) Service() pb.CredentialServiceClient {
	return a.rpc
}

// WithLabel sets the free-text label of a credential stored by PutAPIKey or
// PutOAuth.
func WithLabel(label string) Option {
	return func(o *callOptions) { o.label = label }
}

// WithPriority sets the order of a credential stored by PutAPIKey or PutOAuth
// in its provider's pool: lower is tried first.
func WithPriority(priority int64) Option {
	return func(o *callOptions) { o.priority = priority }
}

// PutAPIKey stores a static API key as credential id of provider (a provider
// of the server's config), replacing any credential with that id; a replaced
// dead credential is live again.
// WithLabel, WithPriority and WithBearerToken apply of opts.
func (a *AdminClient) PutAPIKey(ctx context.Context, id, provider, key string, opts ...Option) (*pb.CredentialInfo, error) {
	return a.put(ctx, &pb.PutCredentialRequest{
		Id: id, Provider: provider,
		Material: &pb.PutCredentialRequest_ApiKey{ApiKey: &pb.ApiKey{Key: key}},
	}, opts)
}

// PutOAuth stores an OAuth token set as credential id of provider, replacing
// any credential with that id. The server refreshes it with the RFC 6749
// refresh grant at tokens.TokenUrl.
// WithLabel, WithPriority and WithBearerToken apply of opts.
func (a *AdminClient) PutOAuth(ctx context.Context, id, provider string, tokens *pb.OAuthTokens, opts ...Option) (*pb.CredentialInfo, error) {
	return a.put(ctx, &pb.PutCredentialRequest{
		Id: id, Provider: provider,
		Material: &pb.PutCredentialRequest_Oauth{Oauth: tokens},
	}, opts)
}

func (a *AdminClient) put(ctx context.Context, req *pb.PutCredentialRequest, opts []Option) (*pb.CredentialInfo, error) {
	o := collect(opts)
	req.Label, req.Priority = o.label, o.priority
	resp, err := a.rpc.PutCredential(o.context(ctx), req)
	if err != nil {
		return nil, FromError(err)
	}
	return resp.GetCredential(), nil
}

// ListCredentials returns every credential, or only provider's when provider
// is not empty, by provider then priority, with its state and never its secret.
// Only WithBearerToken applies of opts.
func (a *AdminClient) ListCredentials(ctx context.Context, provider string, opts ...Option) ([]*pb.CredentialInfo, error) {
	resp, err := a.rpc.ListCredentials(collect(opts).context(ctx), &pb.ListCredentialsRequest{Provider: provider})
	if err != nil {
		return nil, FromError(err)
	}
	return resp.GetCredentials(), nil
}

// DeleteCredential removes credential id; ErrCredentialNotFound when there is
// none. Only WithBearerToken applies of opts.
func (a *AdminClient) DeleteCredential(ctx context.Context, id string, opts ...Option) error {
	if _, err := a.rpc.DeleteCredential(collect(opts).context(ctx), &pb.DeleteCredentialRequest{Id: id}); err != nil {
		return FromError(err)
	}
	return nil
}

// RefreshCredential refreshes OAuth credential id now. ErrNotRefreshable for a
// static key; ErrRefreshFailed when the token endpoint refused (code
// FailedPrecondition: the credential is now dead) or failed (code
// Unavailable: try again). Only WithBearerToken applies of opts.
func (a *AdminClient) RefreshCredential(ctx context.Context, id string, opts ...Option) (*pb.CredentialInfo, error) {
	resp, err := a.rpc.RefreshCredential(collect(opts).context(ctx), &pb.RefreshCredentialRequest{Id: id})
	if err != nil {
		return nil, FromError(err)
	}
	return resp.GetCredential(), nil
}
