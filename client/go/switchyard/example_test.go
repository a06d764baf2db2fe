package switchyard_test

import (
	"context"
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
