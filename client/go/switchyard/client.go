// Package switchyard is a thin Go client of the Switchyard gRPC LLM gateway
// (service switchyard.v1.SwitchyardService).
//
// It wraps the generated package switchyardv1 with the verbs every Switchyard
// client shares (Complete, AuxComplete, ExplainRequest, Simulate), streamed
// answers (CompleteStream and AuxCompleteStream return a *Stream), per-call
// options (model, max tokens, temperature, bearer token), a default bearer
// token per connection (DefaultBearerToken), deadlines taken from the context,
// typed errors decoded from the gRPC status details (*Error, with errors.Is
// support through sentinels such as ErrAllCandidatesFailed), and FormatTrail to
// print an attempt trail.
//
// Requests and responses are the generated messages: the client adds no model
// of its own on top of the API.
package switchyard

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// Client calls a Switchyard server. It is safe for concurrent use.
type Client struct {
	rpc  pb.SwitchyardServiceClient
	conn *grpc.ClientConn // set when the client owns the connection (Dial)
}

// Dial creates a client for target (e.g. "127.0.0.1:50051").
//
// The connection is plaintext by default, as the server serves plaintext gRPC
// today; pass grpc.WithTransportCredentials to use TLS (options given here are
// applied after the default, so they win). The connection is established
// lazily, on the first call. Close releases it.
func Dial(target string, opts ...grpc.DialOption) (*Client, error) {
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, err
	}
	return &Client{rpc: pb.NewSwitchyardServiceClient(conn), conn: conn}, nil
}

// New creates a client over an existing connection, which the caller keeps
// owning: Close does not close it.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewSwitchyardServiceClient(conn)}
}

// Close closes the connection created by Dial; it does nothing for a client
// made with New.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// Service returns the generated stub, for what the verbs do not cover.
func (c *Client) Service() pb.SwitchyardServiceClient {
	return c.rpc
}

// Option sets an optional field of a call.
type Option func(*callOptions)

type callOptions struct {
	model       *string
	maxTokens   *int32
	temperature *float64
	chat        *pb.ChatOptions // tools, tool choice, response format...; nil when none is set
	token       string
	label       string // AdminClient puts
	priority    int64  // AdminClient puts
}

// WithModel overrides the model of the first candidate (of the main agent
// model for Complete and CompleteStream, of the task for AuxComplete and
// AuxCompleteStream, of the simulated caller for Simulate).
func WithModel(model string) Option {
	return func(o *callOptions) { o.model = &model }
}

// WithMaxTokens bounds the generated tokens; the server requires a positive value.
func WithMaxTokens(n int32) Option {
	return func(o *callOptions) { o.maxTokens = &n }
}

// WithTemperature sets the sampling temperature, in [0, 2].
func WithTemperature(t float64) Option {
	return func(o *callOptions) { o.temperature = &t }
}

// options returns the call's chat options, created on first use.
func (o *callOptions) options() *pb.ChatOptions {
	if o.chat == nil {
		o.chat = &pb.ChatOptions{}
	}
	return o.chat
}

// WithTools offers the model functions to call (see Function).
func WithTools(tools ...*pb.Tool) Option {
	return func(o *callOptions) { o.options().Tools = append(o.options().Tools, tools...) }
}

// WithToolChoice says which tool the model may or must call: ToolChoiceAuto,
// ToolChoiceNone, ToolChoiceRequired or ToolChoiceFunction(name).
func WithToolChoice(choice *pb.ToolChoice) Option {
	return func(o *callOptions) { o.options().ToolChoice = choice }
}

// WithParallelToolCalls allows or forbids several tool calls in one answer.
func WithParallelToolCalls(parallel bool) Option {
	return func(o *callOptions) { o.options().ParallelToolCalls = &parallel }
}

// WithResponseFormat asks for structured output (see JSONSchema, JSONObject).
func WithResponseFormat(format *pb.ResponseFormat) Option {
	return func(o *callOptions) { o.options().ResponseFormat = format }
}

// WithStop adds stop sequences.
func WithStop(sequences ...string) Option {
	return func(o *callOptions) { o.options().Stop = append(o.options().Stop, sequences...) }
}

// WithTopP sets nucleus sampling, in (0, 1].
func WithTopP(p float64) Option {
	return func(o *callOptions) { o.options().TopP = &p }
}

// WithSeed sets the sampling seed, where the provider accepts one.
func WithSeed(seed int64) Option {
	return func(o *callOptions) { o.options().Seed = &seed }
}

// WithReasoningEffort sets how hard a reasoning model thinks.
func WithReasoningEffort(effort pb.ReasoningEffort) Option {
	return func(o *callOptions) { o.options().ReasoningEffort = effort }
}

// WithMetadata adds an opaque key-value pair passed through where the provider
// accepts it.
func WithMetadata(key, value string) Option {
	return func(o *callOptions) {
		if o.options().Metadata == nil {
			o.options().Metadata = map[string]string{}
		}
		o.options().Metadata[key] = value
	}
}

// WithUser sets the opaque end-user id passed through where the provider accepts it.
func WithUser(user string) Option {
	return func(o *callOptions) { o.options().User = &user }
}

// WithBearerToken sends `authorization: Bearer <token>` with the call. It
// overrides the connection's DefaultBearerToken.
func WithBearerToken(token string) Option {
	return func(o *callOptions) { o.token = token }
}

// DefaultBearerToken is a dial option (for Dial, or for grpc.NewClient before
// New) that sends `authorization: Bearer <token>` with every call of the
// connection, unary or streaming, that carries no authorization metadata of
// its own: WithBearerToken, or authorization metadata on the context, still
// overrides it for one call. An empty token sends nothing. A server whose
// config lists auth.client_token_sha256 refuses a call without an accepted
// token with ErrUnauthenticated.
//
// Prefer it to grpc.WithPerRPCCredentials with grpc-go's token credentials
// (credentials/oauth): those refuse a plaintext connection, and they go out
// before a per-call token as a second authorization value, which the server,
// reading the first, would ignore. DefaultBearerToken works on plaintext and
// stays silent when the call has a token of its own.
func DefaultBearerToken(token string) grpc.DialOption {
	if token == "" {
		return grpc.EmptyDialOption{}
	}
	return grpc.WithPerRPCCredentials(defaultToken{header: "Bearer " + token})
}

// defaultToken is the per-RPC credentials of DefaultBearerToken. grpc-go asks
// it for metadata on every call, unary and streaming, with the call's context.
type defaultToken struct{ header string }

func (d defaultToken) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get("authorization")) > 0 {
		return nil, nil // the call's own token wins, as the only value
	}
	return map[string]string{"authorization": d.header}, nil
}

// RequireTransportSecurity is false: the server serves plaintext gRPC today.
func (defaultToken) RequireTransportSecurity() bool { return false }

var _ credentials.PerRPCCredentials = defaultToken{}

func collect(opts []Option) callOptions {
	var o callOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

func (o callOptions) context(ctx context.Context) context.Context {
	if o.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.token)
}

// Complete answers the primary turn of the agent's conversation. The deadline
// of ctx travels to the server, which bounds the whole fallback walk with it.
//
// A failure is an *Error (see its documentation and the Err sentinels).
func (c *Client) Complete(ctx context.Context, messages []*pb.Message, opts ...Option) (*pb.CompleteResponse, error) {
	o := collect(opts)
	resp, err := c.rpc.Complete(o.context(ctx), &pb.CompleteRequest{
		Messages:    messages,
		Model:       o.model,
		MaxTokens:   o.maxTokens,
		Temperature: o.temperature,
		Options:     o.chat,
	})
	if err != nil {
		return nil, FromError(err)
	}
	return resp, nil
}

// AuxComplete answers an auxiliary task such as "compression", "vision" or
// "title_generation", or any task the server's config defines.
//
// A failure is an *Error (see its documentation and the Err sentinels).
func (c *Client) AuxComplete(ctx context.Context, task string, messages []*pb.Message, opts ...Option) (*pb.AuxCompleteResponse, error) {
	o := collect(opts)
	resp, err := c.rpc.AuxComplete(o.context(ctx), &pb.AuxCompleteRequest{
		Task:        task,
		Messages:    messages,
		Model:       o.model,
		MaxTokens:   o.maxTokens,
		Temperature: o.temperature,
		Options:     o.chat,
	})
	if err != nil {
		return nil, FromError(err)
	}
	return resp, nil
}

// ExplainRequest returns the recorded trail of a past Complete or AuxComplete
// call, by the request id of its response or of its *Error. An unknown id
// fails with ErrRequestNotFound. Only WithBearerToken applies.
func (c *Client) ExplainRequest(ctx context.Context, requestID string, opts ...Option) (*pb.ExplainFallbackResponse, error) {
	o := collect(opts)
	resp, err := c.rpc.ExplainFallback(o.context(ctx), &pb.ExplainFallbackRequest{
		Query: &pb.ExplainFallbackRequest_RequestId{RequestId: requestID},
	})
	if err != nil {
		return nil, FromError(err)
	}
	return resp, nil
}

// Simulate asks the server which steps its fallback policy would take for a
// caller and a sequence of upstream outcomes, with the same code as a real
// call and without contacting a provider. sim is not modified. WithModel
// overrides sim's model; WithBearerToken applies; other options are ignored.
//
// Build sim with PrimaryCaller or TaskCaller and HTTPOutcome or TransportOutcome.
func (c *Client) Simulate(ctx context.Context, sim *pb.Simulation, opts ...Option) (*pb.ExplainFallbackResponse, error) {
	o := collect(opts)
	if o.model != nil {
		if sim == nil {
			sim = &pb.Simulation{}
		} else {
			sim = proto.CloneOf(sim)
		}
		sim.Model = o.model
	}
	resp, err := c.rpc.ExplainFallback(o.context(ctx), &pb.ExplainFallbackRequest{
		Query: &pb.ExplainFallbackRequest_Simulation{Simulation: sim},
	})
	if err != nil {
		return nil, FromError(err)
	}
	return resp, nil
}

// System returns a system message.
func System(content string) *pb.Message {
	return &pb.Message{Role: pb.Role_ROLE_SYSTEM, Content: content}
}

// User returns a user message.
func User(content string) *pb.Message {
	return &pb.Message{Role: pb.Role_ROLE_USER, Content: content}
}

// Assistant returns an assistant (model) message.
func Assistant(content string) *pb.Message {
	return &pb.Message{Role: pb.Role_ROLE_ASSISTANT, Content: content}
}

// Developer returns a developer message (instructions, OpenAI's successor of system).
func Developer(content string) *pb.Message {
	return &pb.Message{Role: pb.Role_ROLE_DEVELOPER, Content: content}
}

// UserParts returns a user message of ordered parts: TextPart, ImageURL, ImageData.
func UserParts(parts ...*pb.ContentPart) *pb.Message {
	return &pb.Message{Role: pb.Role_ROLE_USER, Parts: parts}
}

// AssistantToolCalls returns the assistant turn that made calls: send it back
// before their results.
func AssistantToolCalls(calls []*pb.ToolCall) *pb.Message {
	return &pb.Message{Role: pb.Role_ROLE_ASSISTANT, ToolCalls: calls}
}

// ToolResult returns the result of the tool call toolCallID.
func ToolResult(toolCallID, content string) *pb.Message {
	return &pb.Message{Role: pb.Role_ROLE_TOOL, Content: content, ToolCallId: &toolCallID}
}

// TextPart is a text content part.
func TextPart(text string) *pb.ContentPart {
	return &pb.ContentPart{Part: &pb.ContentPart_Text{Text: text}}
}

// ImageURL is an image part the provider fetches from an https URL.
func ImageURL(url string) *pb.ContentPart {
	return &pb.ContentPart{Part: &pb.ContentPart_Image{Image: &pb.Image{Source: &pb.Image_Url{Url: url}}}}
}

// ImageData is an inline image part: its bytes and media type ("image/png"...).
func ImageData(mediaType string, data []byte) *pb.ContentPart {
	source := &pb.Image_Data{Data: &pb.ImageData{MediaType: mediaType, Data: data}}
	return &pb.ContentPart{Part: &pb.ContentPart_Image{Image: &pb.Image{Source: source}}}
}

// Function is a tool the model may call; parameters is the JSON Schema of its
// arguments, as JSON text of an object, forwarded verbatim.
func Function(name, description, parameters string) *pb.Tool {
	return &pb.Tool{Name: name, Description: &description, Parameters: parameters}
}

// ToolChoiceAuto lets the model decide.
func ToolChoiceAuto() *pb.ToolChoice { return toolMode(pb.ToolChoiceMode_TOOL_CHOICE_MODE_AUTO) }

// ToolChoiceNone forbids tool calls.
func ToolChoiceNone() *pb.ToolChoice { return toolMode(pb.ToolChoiceMode_TOOL_CHOICE_MODE_NONE) }

// ToolChoiceRequired asks for at least one tool call.
func ToolChoiceRequired() *pb.ToolChoice {
	return toolMode(pb.ToolChoiceMode_TOOL_CHOICE_MODE_REQUIRED)
}

// ToolChoiceFunction asks for a call of the named function.
func ToolChoiceFunction(name string) *pb.ToolChoice {
	return &pb.ToolChoice{Choice: &pb.ToolChoice_Function{Function: name}}
}

func toolMode(mode pb.ToolChoiceMode) *pb.ToolChoice {
	return &pb.ToolChoice{Choice: &pb.ToolChoice_Mode{Mode: mode}}
}

// JSONObject asks for any JSON object.
func JSONObject() *pb.ResponseFormat {
	return &pb.ResponseFormat{Kind: pb.ResponseFormatKind_RESPONSE_FORMAT_KIND_JSON_OBJECT}
}

// JSONSchema asks for JSON following schema (JSON text of an object), strictly.
func JSONSchema(name, schema string) *pb.ResponseFormat {
	strict := true
	return &pb.ResponseFormat{
		Kind:       pb.ResponseFormatKind_RESPONSE_FORMAT_KIND_JSON_SCHEMA,
		JsonSchema: &pb.JsonSchemaFormat{Name: name, Schema: schema, Strict: &strict},
	}
}

// PrimaryCaller selects the primary caller in a Simulation.
func PrimaryCaller() *pb.Caller {
	return &pb.Caller{Kind: &pb.Caller_Primary{Primary: &pb.PrimaryCaller{}}}
}

// TaskCaller selects an auxiliary task in a Simulation.
func TaskCaller(task string) *pb.Caller {
	return &pb.Caller{Kind: &pb.Caller_Task{Task: task}}
}

// HTTPOutcome is a simulated HTTP answer (2xx is a success), e.g.
// HTTPOutcome(401, `{"error":{"code":"token_invalidated"}}`).
func HTTPOutcome(status uint32, body string) *pb.SimulatedOutcome {
	return &pb.SimulatedOutcome{Outcome: &pb.SimulatedOutcome_Http{Http: &pb.HttpOutcome{Status: status, Body: body}}}
}

// TransportOutcome is a simulated failure without an HTTP answer.
func TransportOutcome(failure pb.TransportFailure) *pb.SimulatedOutcome {
	return &pb.SimulatedOutcome{Outcome: &pb.SimulatedOutcome_Transport{Transport: failure}}
}
