package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"
)

// runExport writes the conversations the API exports, as JSONL, to stdout or
// a file: `troupe export [--type T] [--status S] [--model M] [--since D]
// [--cursor C] [--output FILE]`. An export cut short says how to resume it.
func runExport(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	taskType := fs.String("type", "", "only tasks of this type")
	status := fs.String("status", "", "only tasks with this status")
	model := fs.String("model", "", "only tasks of this model")
	since := fs.Duration("since", 0, "only tasks created this long ago or less (e.g. 24h)")
	cursor := fs.String("cursor", "", "resume after the task of this cursor (metadata.cursor of the last line)")
	output := fs.String("output", "", "write to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\nusage: troupe export [--type T] [--status S] [--model M] [--since 24h] [--cursor C] [--output FILE]", err)
	}
	q := url.Values{}
	for name, v := range map[string]string{"type": *taskType, "status": *status, "model": *model, "cursor": *cursor} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if *since > 0 {
		q.Set("created_after", time.Now().Add(-*since).UTC().Format(time.RFC3339))
	}
	out := stdout
	if *output != "" {
		f, err := os.Create(*output)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	resp, err := newAPIClient(cfg, 0).send(ctx, "GET", "/v1/export/conversations?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	w := bufio.NewWriter(out)
	lines := bufio.NewReader(resp.Body)
	last := ""
	for {
		line, err := lines.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
			var l struct {
				Metadata struct {
					Cursor string `json:"cursor"`
				} `json:"metadata"`
			}
			if json.Unmarshal(line, &l) == nil {
				last = l.Metadata.Cursor
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errors.Join(w.Flush(), resumeHint(err, last))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if state := resp.Trailer.Get("Troupe-Export"); state != "complete" {
		return resumeHint(fmt.Errorf("the export ended early (%s)", state), last)
	}
	return nil
}

// resumeHint adds to err how to resume an export after the line of cursor.
func resumeHint(err error, cursor string) error {
	if cursor == "" {
		return fmt.Errorf("%w; run the export again", err)
	}
	return fmt.Errorf("%w; resume with --cursor %s", err, cursor)
}
