package switchyard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/switchyard-dev/switchyard/client/go/switchyard"
	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// A tool loop, as the README shows it: offer the tools, run the calls the
// model makes, send the results back, until the answer is text. Compiled, not
// run (it needs a server whose model calls tools).
func ExampleClient_Complete_toolLoop() {
	client, err := switchyard.Dial("host:port")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	weather := switchyard.Function("get_weather", "Weather of a city",
		`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)
	conversation := []*pb.Message{switchyard.User("Weather in Paris?")}
	for {
		answer, err := client.Complete(ctx, conversation,
			switchyard.WithTools(weather), switchyard.WithToolChoice(switchyard.ToolChoiceAuto()))
		if err != nil {
			log.Fatal(err)
		}
		if len(answer.GetToolCalls()) == 0 {
			fmt.Println(answer.GetContent())
			return
		}
		conversation = append(conversation, switchyard.AssistantToolCalls(answer.GetToolCalls()))
		for _, call := range answer.GetToolCalls() {
			var args struct{ City string }
			_ = json.Unmarshal([]byte(call.GetArguments()), &args)
			conversation = append(conversation, switchyard.ToolResult(call.GetId(), "18C in "+args.City))
		}
	}
}
