package switchyard_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/switchyard-dev/switchyard/client/go/switchyard"
	"github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// The example of README.md: an auxiliary task whose explicit provider answers
// 401 token_invalidated is served by its fallback chain; the trail shows how.
// It needs a server started with `switchyard serve`, so it is compiled, not run.
func Example_auxCompleteTrail() {
	client, err := switchyard.Dial("127.0.0.1:50051")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	resp, err := client.AuxComplete(context.Background(), "compression",
		[]*switchyardv1.Message{switchyard.User("Summarise the conversation so far.")})
	if err != nil {
		log.Fatal(err) // a *switchyard.Error: Reason, RequestID and the Attempts trail
	}
	fmt.Printf("%q, served by %s/%s\n", resp.Content, resp.ServedBy.Provider, resp.ServedBy.Model)
	fmt.Print(switchyard.FormatTrail(resp.Attempts))
}

// The streaming example of README.md: the answer arrives piece by piece. A
// failover happens only before the first piece; a provider failing after it
// ends the stream with ErrStreamInterrupted. It needs a server started with
// `switchyard serve`, so it is compiled, not run.
func Example_completeStream() {
	client, err := switchyard.Dial("127.0.0.1:50051")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	stream, err := client.CompleteStream(ctx, []*switchyardv1.Message{switchyard.User("Tell me a story.")})
	if err != nil {
		log.Fatal(err) // no candidate produced any text: the same *switchyard.Error as Complete
	}
	defer stream.Close()
	fmt.Printf("served by %s/%s\n", stream.ServedBy().Provider, stream.ServedBy().Model)
	for stream.Next() {
		fmt.Print(stream.Text())
	}
	if err := stream.Err(); err != nil {
		var e *switchyard.Error
		if errors.As(err, &e) && errors.Is(err, switchyard.ErrStreamInterrupted) {
			// stream.Content() is incomplete; e.Attempts ends with stop_stream.
			log.Fatalf("\n%s/%s broke off:\n%s", e.Interruption.Provider, e.Interruption.Model, switchyard.FormatTrail(e.Attempts))
		}
		log.Fatal(err)
	}
	fmt.Printf("\n%s, %d tokens\n", stream.Finished().FinishReason, stream.Finished().Usage.GetOutputTokens())
	fmt.Print(switchyard.FormatTrail(stream.Finished().Attempts))
}
