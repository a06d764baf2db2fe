package switchyard_test

// The README as a newcomer follows it: a Go module of its own, outside this
// one, whose go.mod holds the README's require and replace lines (pointing at
// this clone), builds each README program and runs it against `switchyard
// demo`. Each program must print exactly the output the README shows under it.

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeAddr is the address every README example dials; the test swaps in the demo's.
const readmeAddr = "127.0.0.1:50051"

// clonePath stands for the clone in the README's go.mod lines.
const clonePath = "/path/to/switchyard"

type readmeBlock struct {
	lang, body string
	line       int
}

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	text, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?ms)^```([\\w.-]*)\\n(.*?)^```$")
	var blocks []readmeBlock
	for _, m := range re.FindAllSubmatchIndex(text, -1) {
		blocks = append(blocks, readmeBlock{
			lang: string(text[m[2]:m[3]]),
			body: string(text[m[4]:m[5]]),
			line: strings.Count(string(text[:m[0]]), "\n") + 1,
		})
	}
	return blocks
}

// startDemo runs `switchyard demo --keep-running --listen 127.0.0.1:0` and
// returns its address once it says it keeps running (its own calls are over:
// codex's key is dead and cheap's is cooling, as the README says).
func startDemo(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(switchyardBin(t), "demo", "--keep-running", "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addrs := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`^The demo server keeps running on (\S+) `)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if m := re.FindStringSubmatch(scanner.Text()); m != nil {
				addrs <- m[1]
			}
		}
	}()
	select {
	case addr := <-addrs:
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("the demo printed no address within 30 s")
		return ""
	}
}

func TestReadmeExamplesRunAgainstTheDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own")
	}
	blocks := readmeBlocks(t)
	var gomod string
	type example struct {
		code, output string
		line         int
	}
	var examples []example
	for i, b := range blocks {
		switch {
		case b.lang == "go.mod":
			gomod = b.body
		case b.lang == "go" && strings.Contains(b.body, readmeAddr) && i+1 < len(blocks) && blocks[i+1].lang == "text":
			examples = append(examples, example{b.body, blocks[i+1].body, b.line})
		}
	}
	if gomod == "" || !strings.Contains(gomod, clonePath) {
		t.Fatalf("no go.mod block with the replace line to %s in README.md", clonePath)
	}
	if len(examples) < 2 {
		t.Fatalf("found %d go programs dialing %s with an output block", len(examples), readmeAddr)
	}

	// A module of its own, as in the README.
	dir := t.TempDir()
	root := repoRoot(t)
	mod := "module example.com/readme\n\ngo 1.26\n\n" + strings.ReplaceAll(gomod, clonePath, root)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	// This module's checksums, so that `go mod tidy` needs no checksum database for
	// the modules they cover (a newcomer's tidy fetches them).
	sums, err := os.ReadFile("../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, e := range examples {
		sub := filepath.Join(dir, "line"+strconv.Itoa(e.line))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "main.go"), []byte(e.code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("go", "mod", "tidy")
	run("go", "build", "-o", filepath.Join(dir, "bin")+string(filepath.Separator), "./...")

	addr := startDemo(t)
	for _, e := range examples {
		t.Run("README.md:"+strconv.Itoa(e.line), func(t *testing.T) {
			// The address is the only change: the program is built from the README.
			bin := filepath.Join(dir, "bin", "line"+strconv.Itoa(e.line))
			src := filepath.Join(dir, "line"+strconv.Itoa(e.line), "main.go")
			code := strings.ReplaceAll(e.code, readmeAddr, addr)
			if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./line"+strconv.Itoa(e.line))
			build.Dir = dir
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			out, err := exec.CommandContext(ctx, bin).Output()
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			if string(out) != e.output {
				t.Errorf("README.md line %d printed\n%s\nthe README shows\n%s", e.line, out, e.output)
			}
		})
	}
}
