package switchyard

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// Stream is a streamed answer of CompleteStream or AuxCompleteStream.
//
// The call that returns it has already received the stream's started event:
// a candidate has produced its first token and the fallback walk is over, so
// RequestID, ServedBy and Started are set from the start. Read the text with
// Next and Text, then check Err:
//
//	defer s.Close()
//	for s.Next() {
//		fmt.Print(s.Text())
//	}
//	if err := s.Err(); err != nil {
//		// an *Error; errors.Is(err, ErrStreamInterrupted) when the answer broke off
//	}
//
// With tools, Next also stops at each piece of a tool call: ToolCallDelta then
// returns it (and Text is empty). The first piece of each call has its id and
// name, the next ones add to its arguments; ToolCalls holds the calls
// assembled once the stream has finished.
//
// The answer is complete only when Err is nil after Next has returned false;
// Finished then holds the usage, the finish reason and the whole trail. Once
// text has been sent no other candidate may continue the answer, so a
// provider failing mid-answer ends the stream with an *Error that matches
// ErrStreamInterrupted, whose Interruption names the candidate and whose
// Attempts end with ACTION_STOP_STREAM. Content keeps the text received.
//
// Close releases the stream; Next returning false releases it too. Close may
// be called from another goroutine to abort a Next that is waiting; the other
// methods are not safe for concurrent use.
type Stream struct {
	recv     func() (streamEvent, error)
	cancel   context.CancelFunc
	closed   atomic.Bool
	started  *pb.StreamStarted
	finished *pb.StreamFinished
	text     string
	toolCall *pb.ToolCallDelta
	content  strings.Builder
	err      error
	done     bool
}

// CompleteStream answers the primary turn as a stream of text, through the
// same fallback policy as Complete. It returns once a candidate has produced
// its first token. A failure before that point, when every candidate failed
// or was skipped before any text, is returned here as the same *Error that
// Complete would return (ErrAllCandidatesFailed...).
//
// The deadline of ctx bounds the whole stream, reading included; cancelling
// ctx or calling Close ends it.
func (c *Client) CompleteStream(ctx context.Context, messages []*pb.Message, opts ...Option) (*Stream, error) {
	o := collect(opts)
	req := &pb.CompleteStreamRequest{
		Messages:    messages,
		Model:       o.model,
		MaxTokens:   o.maxTokens,
		Temperature: o.temperature,
		Options:     o.chat,
	}
	return openStream(o.context(ctx), func(ctx context.Context) (grpc.ServerStreamingClient[pb.CompleteStreamResponse], error) {
		return c.rpc.CompleteStream(ctx, req)
	}, completeStreamEvent)
}

// AuxCompleteStream answers an auxiliary task as a stream of text, with the
// rules of CompleteStream and the fallback policy of AuxComplete.
func (c *Client) AuxCompleteStream(ctx context.Context, task string, messages []*pb.Message, opts ...Option) (*Stream, error) {
	o := collect(opts)
	req := &pb.AuxCompleteStreamRequest{
		Task:        task,
		Messages:    messages,
		Model:       o.model,
		MaxTokens:   o.maxTokens,
		Temperature: o.temperature,
		Options:     o.chat,
	}
	return openStream(o.context(ctx), func(ctx context.Context) (grpc.ServerStreamingClient[pb.AuxCompleteStreamResponse], error) {
		return c.rpc.AuxCompleteStream(ctx, req)
	}, auxCompleteStreamEvent)
}

// Next waits for the next piece, of text or of a tool call, and reports
// whether there is one.
// It returns false at the end of the stream: then Err is nil and Finished is
// set when the answer is complete, and Err says why otherwise.
func (s *Stream) Next() bool {
	if s.done {
		return false
	}
	for {
		if s.closed.Load() {
			s.end(errClosed())
			return false
		}
		ev, err := s.recv()
		switch {
		case s.closed.Load():
			s.end(errClosed())
			return false
		case errors.Is(err, io.EOF):
			s.end(protocolError("the stream ended without its finished event; the answer may be incomplete"))
			return false
		case err != nil:
			s.end(FromError(err))
			return false
		}
		s.toolCall = nil
		switch ev.kind {
		case eventDelta:
			s.text = ev.delta
			s.content.WriteString(ev.delta)
			return true
		case eventToolCall:
			s.text = ""
			s.toolCall = ev.toolCall
			return true
		case eventFinished:
			s.finished = ev.finished
			s.end(nil)
			return false
		case eventStarted:
			s.end(protocolError("the stream sent a second started event"))
			return false
		}
		// An event this client does not know, from a newer server: skip it.
	}
}

// Text returns the piece of text read by the last call to Next that
// returned true.
func (s *Stream) Text() string {
	return s.text
}

// ToolCallDelta returns the piece of a tool call read by the last call to
// Next that returned true, or nil when that piece was text.
func (s *Stream) ToolCallDelta() *pb.ToolCallDelta {
	return s.toolCall
}

// ToolCalls returns the tool calls of the answer, assembled, once the stream
// has finished (nil before).
func (s *Stream) ToolCalls() []*pb.ToolCall {
	return s.finished.GetToolCalls()
}

// Content returns all the text received so far: the whole answer once the
// stream has finished, the incomplete text when it broke off.
func (s *Stream) Content() string {
	return s.content.String()
}

// Err returns the error that ended the stream, or nil while it runs and when
// it finished with a complete answer. It is an *Error: ErrStreamInterrupted
// when the answering provider failed after text was sent; context.Canceled
// (code Canceled) after Close or when ctx was cancelled; ErrDeadline when the
// deadline expired.
func (s *Stream) Err() error {
	return s.err
}

// Close ends the stream and releases it. It returns nil; calling it again,
// or after the end, does nothing. Closing a stream before its end cancels
// the call, and Err then matches context.Canceled.
func (s *Stream) Close() error {
	s.closed.Store(true)
	s.cancel()
	return nil
}

// Started returns the stream's first event: the request id, the candidate
// that answers, and the trail up to and including its attempt.
func (s *Stream) Started() *pb.StreamStarted {
	return s.started
}

// RequestID identifies the request, for ExplainRequest.
func (s *Stream) RequestID() string {
	return s.started.GetRequestId()
}

// ServedBy names the provider, model and credential that answer.
func (s *Stream) ServedBy() *pb.ServedBy {
	return s.started.GetServedBy()
}

// Finished returns the stream's last event once the answer is complete (the
// usage, the finish reason and the whole trail), and nil before that or when
// the stream ended with an error.
func (s *Stream) Finished() *pb.StreamFinished {
	return s.finished
}

func (s *Stream) end(err error) {
	s.done = true
	s.text = ""
	s.toolCall = nil
	s.err = err
	s.cancel()
}

type eventKind int

const (
	eventUnknown eventKind = iota
	eventStarted
	eventDelta
	eventToolCall
	eventFinished
)

// streamEvent is an event of either streaming RPC.
type streamEvent struct {
	kind     eventKind
	started  *pb.StreamStarted
	delta    string
	toolCall *pb.ToolCallDelta
	finished *pb.StreamFinished
}

func completeStreamEvent(r *pb.CompleteStreamResponse) streamEvent {
	switch e := r.GetEvent().(type) {
	case *pb.CompleteStreamResponse_Started:
		return streamEvent{kind: eventStarted, started: e.Started}
	case *pb.CompleteStreamResponse_Delta:
		return streamEvent{kind: eventDelta, delta: e.Delta}
	case *pb.CompleteStreamResponse_ToolCallDelta:
		return streamEvent{kind: eventToolCall, toolCall: e.ToolCallDelta}
	case *pb.CompleteStreamResponse_Finished:
		return streamEvent{kind: eventFinished, finished: e.Finished}
	}
	return streamEvent{kind: eventUnknown}
}

func auxCompleteStreamEvent(r *pb.AuxCompleteStreamResponse) streamEvent {
	switch e := r.GetEvent().(type) {
	case *pb.AuxCompleteStreamResponse_Started:
		return streamEvent{kind: eventStarted, started: e.Started}
	case *pb.AuxCompleteStreamResponse_Delta:
		return streamEvent{kind: eventDelta, delta: e.Delta}
	case *pb.AuxCompleteStreamResponse_ToolCallDelta:
		return streamEvent{kind: eventToolCall, toolCall: e.ToolCallDelta}
	case *pb.AuxCompleteStreamResponse_Finished:
		return streamEvent{kind: eventFinished, finished: e.Finished}
	}
	return streamEvent{kind: eventUnknown}
}

// openStream starts a streaming call and waits for its started event.
func openStream[R any](ctx context.Context, open func(context.Context) (grpc.ServerStreamingClient[R], error),
	decode func(*R) streamEvent) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	cs, err := open(ctx)
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	s := &Stream{cancel: cancel, recv: func() (streamEvent, error) {
		r, err := cs.Recv()
		if err != nil {
			return streamEvent{}, err
		}
		return decode(r), nil
	}}
	first, err := s.recv()
	switch {
	case errors.Is(err, io.EOF):
		err = protocolError("the stream ended before its started event")
	case err != nil:
		err = FromError(err)
	case first.kind != eventStarted:
		err = protocolError("the stream did not begin with a started event")
	}
	if err != nil {
		cancel()
		return nil, err
	}
	s.started = first.started
	return s, nil
}

// protocolError is a stream that does not follow the protocol.
func protocolError(msg string) error {
	return FromError(status.Error(codes.Internal, "switchyard: "+msg))
}

// errClosed is the error of a stream closed before its end.
func errClosed() error {
	return FromError(status.Error(codes.Canceled, "switchyard: the stream was closed"))
}
