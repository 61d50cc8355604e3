package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/definitions"
)

// runTask submits a task to a running API and prints its events until it
// ends: `troupe run TYPE [--input JSON]`, or `troupe run FILE.yaml` for a
// workflow file, which is sent with the task and run as written.
func runTask(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	input := fs.String("input", "{}", "the task input as JSON")
	model := fs.String("model", "", "model to use instead of the definition's")
	if len(args) == 0 {
		return errors.New("usage: troupe run TYPE|FILE.yaml [--input JSON] [--model MODEL]")
	}
	target := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if !json.Valid([]byte(*input)) {
		return fmt.Errorf("--input is not valid JSON: %s", *input)
	}
	body := map[string]any{"type": target, "input": json.RawMessage(*input), "model": *model}
	if strings.HasSuffix(target, ".yaml") || strings.HasSuffix(target, ".yml") {
		src, err := os.ReadFile(target)
		if err != nil {
			return err
		}
		name, err := workflowName(cfg, target, src)
		if err != nil {
			return err
		}
		body["type"], body["definition"] = "workflow:"+name, string(src)
	}
	c := newAPIClient(cfg, 30*time.Second)
	var task api.Task
	if err := c.do(ctx, http.MethodPost, "/v1/tasks", body, &task); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "task %s submitted\n", task.ID)
	if task.Links.TemporalUI != "" {
		fmt.Fprintf(stdout, "watch it in the Temporal Web UI: %s\n", task.Links.TemporalUI)
	}
	return follow(ctx, c, task.ID, stdout)
}

// howToAnswer says how to answer an event that waits for a person: a tool
// call waiting for approval, or an approval step; "" for other events.
func howToAnswer(api, taskID, kind string, payload json.RawMessage) string {
	var p struct {
		CallID string `json:"call_id"`
		Signal string `json:"signal"`
	}
	_ = json.Unmarshal(payload, &p)
	switch {
	case kind == "tool_call.waiting" && p.CallID != "":
		url := fmt.Sprintf("%s/v1/tasks/%s/tool-calls/%s", api, taskID, p.CallID)
		return fmt.Sprintf("  waiting for approval: curl -X POST %s/approve (or /reject) -d '{\"comment\": \"...\"}'", url)
	case kind == "approval_waiting" && p.Signal != "":
		return fmt.Sprintf("  waiting for approval: curl -X POST %s/v1/tasks/%s/signals/%s -d '{\"approved\": true}'", api, taskID, p.Signal)
	}
	return ""
}

// workflowName validates a workflow file locally, so its problems are shown
// as file:line:col before anything is submitted, and returns its name.
func workflowName(cfg config, file string, src []byte) (string, error) {
	base, err := loadCatalog(cfg)
	if err != nil {
		return "", err
	}
	found, err := definitions.Validate(base, map[string][]byte{file: src})
	if err != nil {
		return "", err
	}
	for name := range found.Workflows {
		if len(found.Workflows) == 1 {
			return name, nil
		}
	}
	return "", fmt.Errorf("%s: holds %d workflows; troupe run takes a file with one", file, len(found.Workflows))
}
