package switchyard_test

// The whole chat through the client against the real server: a tool loop
// after a failover, tool calls streamed as pieces, images and structured
// output reaching the provider as sent.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-dev/switchyard/client/go/switchyard"
	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

var weather = switchyard.Function("get_weather", "Weather of a city",
	`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)

// toolCallsCompletion is an OpenAI completion of one tool call.
const toolCallsCompletion = `{"id":"x","object":"chat.completion","model":"cheap-model",
"choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
"tool_calls":[{"id":"call_w","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}],
"usage":{"prompt_tokens":20,"completion_tokens":9}}`

func TestAToolLoopSurvivesADeadToken(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	srv.fakes.push("codex", reply{status: 401, body: tokenInvalidated})
	srv.fakes.push("cheap", reply{status: 200, body: toolCallsCompletion})
	opts := []switchyard.Option{switchyard.WithTools(weather), switchyard.WithToolChoice(switchyard.ToolChoiceAuto())}
	conversation := []*pb.Message{switchyard.System("Use the tools."), switchyard.User("Weather in Paris?")}

	resp, err := srv.client.AuxComplete(ctx, "compression", conversation, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetFinishReason() != "tool_calls" || len(resp.GetToolCalls()) != 1 {
		t.Fatalf("finish %q, tool calls %v", resp.GetFinishReason(), resp.GetToolCalls())
	}
	call := resp.GetToolCalls()[0]
	if call.GetId() != "call_w" || call.GetName() != "get_weather" || call.GetArguments() != `{"city":"Paris"}` {
		t.Errorf("tool call %v", call)
	}
	if resp.GetServedBy().GetProvider() != "cheap" {
		t.Errorf("served by %v", resp.GetServedBy())
	}
	sent := srv.fakes.callsTo("cheap")[0].Body
	tools, _ := json.Marshal(sent["tools"])
	if !strings.Contains(string(tools), `"name":"get_weather"`) || !strings.Contains(string(tools), `"required":["city"]`) {
		t.Errorf("upstream tools %s", tools)
	}
	if sent["tool_choice"] != "auto" {
		t.Errorf("upstream tool_choice %v", sent["tool_choice"])
	}

	// Run the tool, send the result back.
	conversation = append(conversation, switchyard.AssistantToolCalls(resp.GetToolCalls()),
		switchyard.ToolResult(call.GetId(), "18C"))
	last, err := srv.client.AuxComplete(ctx, "compression", conversation, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if last.GetContent() != "answer from cheap" || last.GetFinishReason() != "stop" {
		t.Errorf("final answer %q (%s)", last.GetContent(), last.GetFinishReason())
	}
	messages := srv.fakes.callsTo("cheap")[1].Messages
	want := map[string]any{"role": "tool", "content": "18C", "tool_call_id": "call_w"}
	if len(messages) != 4 || !reflect.DeepEqual(messages[3], want) {
		t.Errorf("upstream messages %v", messages)
	}
	if got := fmt.Sprint(messages[2]["tool_calls"]); !strings.Contains(got, "call_w") {
		t.Errorf("assistant turn %v", messages[2])
	}
	wantCounts(t, srv.fakes, 0, 1, 2)
}

func TestStreamedToolCallsArriveAsPieces(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	chunk := func(delta, finish string) string {
		return `data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":` + delta +
			`,"finish_reason":` + finish + "}]}\n\n"
	}
	sse := chunk(`{"role":"assistant","tool_calls":[{"index":0,"id":"call_w","type":"function","function":{"name":"get_weather","arguments":""}}]}`, "null") +
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`, "null") +
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`, "null") +
		chunk(`{}`, `"tool_calls"`) + "data: [DONE]\n\n"
	srv.fakes.push("main", reply{status: 200, sse: sse})

	s, err := srv.client.CompleteStream(ctx, []*pb.Message{switchyard.User("Weather in Paris?")},
		switchyard.WithTools(weather))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var deltas []*pb.ToolCallDelta
	for s.Next() {
		d := s.ToolCallDelta()
		if d == nil {
			t.Fatalf("text %q where only a tool call was sent", s.Text())
		}
		deltas = append(deltas, d)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(deltas) < 2 || deltas[0].GetId() != "call_w" || deltas[0].GetName() != "get_weather" {
		t.Fatalf("deltas %v", deltas)
	}
	var arguments strings.Builder
	for _, d := range deltas {
		arguments.WriteString(d.GetArguments())
	}
	if arguments.String() != `{"city":"Paris"}` {
		t.Errorf("arguments %q", arguments.String())
	}
	calls := s.ToolCalls()
	if len(calls) != 1 || calls[0].GetArguments() != `{"city":"Paris"}` || s.Finished().GetFinishReason() != "tool_calls" {
		t.Errorf("assembled %v, finished %v", calls, s.Finished())
	}
}

func TestImagesAndJSONSchemasReachTheProvider(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	png := []byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a}
	_, err := srv.client.Complete(ctx,
		[]*pb.Message{switchyard.UserParts(switchyard.TextPart("Describe it."),
			switchyard.ImageData("image/png", png), switchyard.ImageURL("https://images.test/cat.png"))},
		switchyard.WithResponseFormat(switchyard.JSONSchema("desc", `{"type":"object","required":["text"]}`)),
		switchyard.WithSeed(4), switchyard.WithStop("\n\n"),
		switchyard.WithReasoningEffort(pb.ReasoningEffort_REASONING_EFFORT_LOW))
	if err != nil {
		t.Fatal(err)
	}
	sent := srv.fakes.callsTo("main")[0].Body
	content, _ := json.Marshal(sent["messages"].([]any)[0].(map[string]any)["content"])
	want := `[{"text":"Describe it.","type":"text"},` +
		`{"image_url":{"url":"data:image/png;base64,iVBORw0KGgo="},"type":"image_url"},` +
		`{"image_url":{"url":"https://images.test/cat.png"},"type":"image_url"}]`
	if string(content) != want {
		t.Errorf("upstream content %s", content)
	}
	format, _ := json.Marshal(sent["response_format"])
	if !strings.Contains(string(format), `"name":"desc"`) || !strings.Contains(string(format), `"strict":true`) ||
		!strings.Contains(string(format), `"required":["text"]`) {
		t.Errorf("upstream response_format %s", format)
	}
	if sent["seed"] != float64(4) || sent["reasoning_effort"] != "low" {
		t.Errorf("upstream seed %v, reasoning_effort %v", sent["seed"], sent["reasoning_effort"])
	}
}
