// Command dockerfile-lint runs BuildKit's own Dockerfile checks -- what
// `docker build --check` reports -- without a Docker engine: parse errors and every
// lint rule (instruction casing, undefined ARGs and variables, JSON-form
// ENTRYPOINT/CMD, duplicate stage names, ...). Base images are not pulled: only the
// file is read (base images resolve to a stub config). Exit status 1 on any error or warning.
//
//	go run . ../../Dockerfile
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
)

// offlineResolver answers every base image lookup with a minimal image config, so
// nothing is fetched: no registry is contacted.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	arch, os := runtime.GOARCH, "linux"
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		arch, os = opt.ImageOpt.Platform.Architecture, opt.ImageOpt.Platform.OS
	}
	config, err := json.Marshal(map[string]any{
		"architecture": arch,
		"os":           os,
		"config":       map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digest.FromString(ref).String()}},
	})
	return ref, "", config, err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-lint DOCKERFILE")
		os.Exit(2)
	}
	path := os.Args[1]
	dt, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	// The source map the lint results point into, as the frontend builds it.
	src := llb.Local("dockerfile")
	sourceMap := llb.NewSourceMap(&src, path, "Dockerfile", dt)
	if sourceMap.Definition, err = src.Marshal(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{},
		SourceMap:    sourceMap,
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bad := 0
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		fmt.Printf("%s:%d: %s: %s (%s)\n", path, line, w.RuleName, w.Detail, w.URL)
		bad++
	}
	if res.Error != nil {
		fmt.Printf("%s: error: %s\n", path, res.Error.Message)
		bad++
	}
	if bad > 0 {
		os.Exit(1)
	}
	fmt.Printf("%s: BuildKit parse and lint checks passed\n", path)
}
