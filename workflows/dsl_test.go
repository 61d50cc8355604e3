package workflows

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
)

// answerFunc scripts the LLM: it answers a call to an agent.
type answerFunc func(ctx context.Context, agent, prompt string, n int) (activities.CallResult, error)

// dslBundle is what the interpreter tests work with.
type dslBundle struct {
	env      *testsuite.TestWorkflowEnvironment
	mu       sync.Mutex
	calls    []string // "agent: prompt" in call order
	subtasks []activities.SubtaskStart
	results  []activities.SubtaskFinish
	finished *activities.FinishInput
	events   []string
}

func setupDSL(t *testing.T, answer answerFunc) *dslBundle {
	t.Helper()
	b := &dslBundle{env: newEnv(t)}
	acts := &activities.Activities{}
	b.env.RegisterWorkflow(AgentStepWorkflow)
	b.env.RegisterActivity(acts)
	b.env.OnActivity(acts.StartTask, mock.Anything, mock.Anything).Return(nil)
	b.env.OnActivity(acts.FinishTask, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishInput) error {
		b.finished = &in
		return nil
	})
	b.env.OnActivity(acts.StartSubtask, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SubtaskStart) (uuid.UUID, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.subtasks = append(b.subtasks, in)
		return uuid.NewSHA1(uuid.Nil, []byte(in.Key)), nil
	})
	b.env.OnActivity(acts.FinishSubtask, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SubtaskFinish) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.results = append(b.results, in)
		return nil
	})
	b.env.OnActivity(acts.RecordEvent, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.EventInput) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.events = append(b.events, in.Kind)
		return nil
	})
	mockModel(b.env, acts, func(ctx context.Context, req llm.Request) (activities.CallResult, error) {
		prompt := req.Messages[len(req.Messages)-1].Content
		b.mu.Lock()
		b.calls = append(b.calls, req.SchemaName+": "+prompt)
		n := len(b.calls)
		b.mu.Unlock()
		return answer(ctx, req.SchemaName, prompt, n)
	})
	return b
}

func text(s string, cost float64) activities.CallResult {
	res := reply(s)
	res.CostUSD, res.InputTokens, res.OutputTokens, res.Model = cost, 10, 5, "m"
	return res
}

func jsonAnswer(v any, cost float64) activities.CallResult {
	out, _ := json.Marshal(v)
	res := reply(string(out))
	res.CostUSD, res.Model = cost, "m"
	return res
}

// load parses a workflow definition for a test.
func load(t *testing.T, src string) definitions.Workflow {
	t.Helper()
	cat, err := definitions.Validate(&definitions.Catalog{}, map[string][]byte{"test.yaml": []byte(src)})
	require.NoError(t, err)
	require.Len(t, cat.Workflows, 1)
	for _, w := range cat.Workflows {
		return *w
	}
	return definitions.Workflow{}
}

func (b *dslBundle) run(t *testing.T, wf definitions.Workflow, input string) (json.RawMessage, error) {
	t.Helper()
	b.env.ExecuteWorkflow(DSLWorkflow, DSLInput{TaskID: uuid.New(), Type: "workflow:" + wf.Name, Workflow: wf, Model: "mock", Input: json.RawMessage(input)})
	require.True(t, b.env.IsWorkflowCompleted())
	if err := b.env.GetWorkflowError(); err != nil {
		return nil, err
	}
	var out activities.Value
	require.NoError(t, b.env.GetWorkflowResult(&out))
	return out.Inline, nil
}

func (b *dslBundle) iterations() []int {
	var its []int
	for _, s := range b.subtasks {
		its = append(its, s.Iteration)
	}
	return its
}

const researchLoop = `
name: research_loop
input: {type: object, required: [topic], properties: {topic: {type: string}}}
agents:
  researcher: {system: "Research."}
  assessor:
    system: "Assess."
    output_schema: {type: object, required: [approved, feedback], properties: {approved: {type: boolean}, feedback: {type: string}}}
steps:
  - loop:
      id: refine
      max_iterations: 3
      until: steps.assess.output.approved
      on_exhausted: %s
      steps:
        - id: research
          agent: researcher
          prompt: "Research {{ input.topic }}. {{ has(steps.assess) ? 'Feedback: ' + steps.assess.output.feedback : '' }}"
        - id: assess
          agent: assessor
          prompt: "Assess: {{ steps.research.output.text }}"
output:
  report: "{{ steps.research.output.text }}"
  approved: "{{ steps.assess.output.approved }}"
`

func TestLoopExitsWhenApproved(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, agent, prompt string, n int) (activities.CallResult, error) {
		if agent == "assessor" {
			approved := strings.Contains(prompt, "draft 2")
			return jsonAnswer(map[string]any{"approved": approved, "feedback": "cite sources"}, 0.01), nil
		}
		return text("draft "+string(rune('0'+(n+1)/2)), 0.02), nil
	})
	out, err := b.run(t, load(t, strings.Replace(researchLoop, "%s", "fail", 1)), `{"topic":"otters"}`)
	require.NoError(t, err)
	require.JSONEq(t, `{"report":"draft 2","approved":true}`, string(out))
	require.Equal(t, []int{1, 1, 2, 2}, b.iterations())
	require.Equal(t, "refine/research#2", b.subtasks[2].Key)
	require.Contains(t, b.calls[2], "Feedback: cite sources", "the second research sees the assessor's feedback")
	require.Equal(t, store.StatusCompleted, b.finished.Status)
}

func TestLoopExhausted(t *testing.T) {
	t.Parallel()
	reject := func(_ context.Context, agent, _ string, _ int) (activities.CallResult, error) {
		if agent == "assessor" {
			return jsonAnswer(map[string]any{"approved": false, "feedback": "no"}, 0), nil
		}
		return text("draft", 0), nil
	}
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		b := setupDSL(t, reject)
		_, err := b.run(t, load(t, strings.Replace(researchLoop, "%s", "fail", 1)), `{"topic":"x"}`)
		require.ErrorContains(t, err, "after 3 iterations")
		require.Len(t, b.subtasks, 6)
		require.Equal(t, store.StatusFailed, b.finished.Status)
	})
	t.Run("continue", func(t *testing.T) {
		t.Parallel()
		b := setupDSL(t, reject)
		out, err := b.run(t, load(t, strings.Replace(researchLoop, "%s", "continue", 1)), `{"topic":"x"}`)
		require.NoError(t, err)
		require.JSONEq(t, `{"report":"draft","approved":false}`, string(out))
	})
}

func TestParallelJoins(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, agent, prompt string, _ int) (activities.CallResult, error) {
		return text(agent+" says "+prompt, 0.01), nil
	})
	out, err := b.run(t, load(t, `
name: fan
agents: {a: {system: A}, b: {system: B}, joiner: {system: J}}
steps:
  - parallel:
      id: both
      steps:
        - {id: left, agent: a, prompt: "L"}
        - {id: right, agent: b, prompt: "R"}
  - id: join
    agent: joiner
    prompt: "{{ steps.left.output.text }} + {{ steps.right.output.text }}"
`), `{}`)
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"joiner says a says L + b says R"}`, string(out))
	require.Len(t, b.subtasks, 3)
}

func TestSwitchTakesDefault(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, agent, _ string, _ int) (activities.CallResult, error) {
		return text(agent, 0), nil
	})
	out, err := b.run(t, load(t, `
name: route
agents: {bugs: {system: B}, general: {system: G}}
steps:
  - switch:
      id: route
      cases:
        - when: input.kind == "bug"
          steps: [{id: bug, agent: bugs, prompt: "{{ input.text }}"}]
      default: [{id: other, agent: general, prompt: "{{ input.text }}"}]
`), `{"kind":"question","text":"hi"}`)
	require.NoError(t, err)
	require.Contains(t, string(out), `"general"`)
	require.Len(t, b.subtasks, 1)
	require.Equal(t, "other", b.subtasks[0].StepID)
}

func TestMapRespectsConcurrency(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	running, peak := 0, 0
	b := setupDSL(t, func(_ context.Context, _, prompt string, _ int) (activities.CallResult, error) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return text("sum of "+prompt, 0), nil
	})
	out, err := b.run(t, load(t, `
name: docs
agents: {summarizer: {system: S}}
steps:
  - map:
      id: sums
      items: input.docs
      as: doc
      concurrency: 2
      step: {id: sum, agent: summarizer, prompt: "{{ doc }}"}
`), `{"docs":["a","b","c","d","e"]}`)
	require.NoError(t, err)
	var list []map[string]string
	require.NoError(t, json.Unmarshal(out, &list))
	require.Len(t, list, 5)
	require.Equal(t, "sum of c", list[2]["text"], "outputs keep item order")
	require.LessOrEqual(t, peak, 2)
	require.Len(t, b.subtasks, 5)
}

const approvalFlow = `
name: publish
agents: {writer: {system: W}}
steps:
  - {id: draft, agent: writer, prompt: "write"}
  - approval: {id: ok, signal: approve, message: "Publish?", timeout: 1h, on_timeout: %s}
  - {id: final, agent: writer, prompt: "finalise {{ steps.draft.output.text }}"}
`

func TestApprovalSignal(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, _, prompt string, _ int) (activities.CallResult, error) {
		return text(prompt, 0), nil
	})
	b.env.RegisterDelayedCallback(func() {
		b.env.SignalWorkflow("approve", ApprovalSignal{Approved: true, By: "ada"})
	}, 10*time.Minute)
	out, err := b.run(t, load(t, strings.Replace(approvalFlow, "%s", "fail", 1)), `{}`)
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"finalise write"}`, string(out))
	require.Equal(t, []string{"approval_waiting", "approval_answered"}, b.events)
}

func TestApprovalRejected(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, _, prompt string, _ int) (activities.CallResult, error) {
		return text(prompt, 0), nil
	})
	b.env.RegisterDelayedCallback(func() {
		b.env.SignalWorkflow("approve", ApprovalSignal{Approved: false, By: "ada", Comment: "too long"})
	}, time.Minute)
	_, err := b.run(t, load(t, strings.Replace(approvalFlow, "%s", "fail", 1)), `{}`)
	require.ErrorContains(t, err, "rejected by ada: too long")
	require.Len(t, b.subtasks, 1, "nothing runs after a rejection")
}

func TestApprovalTimeout(t *testing.T) {
	t.Parallel()
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		b := setupDSL(t, func(_ context.Context, _, prompt string, _ int) (activities.CallResult, error) {
			return text(prompt, 0), nil
		})
		_, err := b.run(t, load(t, strings.Replace(approvalFlow, "%s", "fail", 1)), `{}`)
		require.ErrorContains(t, err, "no answer on signal \"approve\" within 1h0m0s")
	})
	t.Run("approve", func(t *testing.T) {
		t.Parallel()
		b := setupDSL(t, func(_ context.Context, _, prompt string, _ int) (activities.CallResult, error) {
			return text(prompt, 0), nil
		})
		out, err := b.run(t, load(t, strings.Replace(approvalFlow, "%s", "approve", 1)), `{}`)
		require.NoError(t, err)
		require.JSONEq(t, `{"text":"finalise write"}`, string(out))
	})
}

func TestBudgetExceededStopsTheRun(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, _, _ string, _ int) (activities.CallResult, error) { return text("x", 0.3), nil })
	_, err := b.run(t, load(t, `
name: pricey
agents: {w: {system: W}}
budget: {max_cost_usd: 0.5}
steps:
  - {id: one, agent: w, prompt: "1"}
  - {id: two, agent: w, prompt: "2"}
  - {id: three, agent: w, prompt: "3"}
`), `{}`)
	require.ErrorContains(t, err, "budget exceeded")
	require.Len(t, b.calls, 2, "no LLM call starts once the budget is spent")
	require.Equal(t, store.StatusFailed, b.finished.Status)
	require.Contains(t, b.finished.Error, "budget exceeded: the run spent $0.600000 of its $0.5000 before step three")
}

func TestCancelReachesChildren(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(ctx context.Context, _, _ string, _ int) (activities.CallResult, error) {
		<-ctx.Done() // a long LLM call, aborted by the cancellation
		return activities.CallResult{}, ctx.Err()
	})
	b.env.RegisterDelayedCallback(b.env.CancelWorkflow, time.Second)
	_, err := b.run(t, load(t, `
name: slow
agents: {w: {system: W}}
steps:
  - {id: one, agent: w, prompt: "1"}
`), `{}`)
	require.True(t, temporal.IsCanceledError(err), "got %v", err)
	require.Len(t, b.results, 1)
	require.Equal(t, store.StatusCanceled, b.results[0].Status, "the child step was canceled with its parent")
	require.Equal(t, store.StatusCanceled, b.finished.Status)
}

func TestDefaultsRetryPolicyApplies(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, _, _ string, _ int) (activities.CallResult, error) {
		return activities.CallResult{}, temporal.NewApplicationError("503 upstream", "server_error")
	})
	_, err := b.run(t, load(t, `
name: flaky
agents: {w: {system: W}}
defaults:
  retry: {max_attempts: 2, initial_interval: 1s}
steps:
  - {id: one, agent: w, prompt: "1"}
`), `{}`)
	require.ErrorContains(t, err, "503 upstream")
	require.Len(t, b.calls, 2, "defaults.retry.max_attempts bounds the attempts")
	require.Equal(t, "503 upstream", b.finished.Error, "the task's error is the provider's, not the wrapping of child workflow and activity")
}

func TestAgentRetryPolicyWinsOverDefaults(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, _, _ string, _ int) (activities.CallResult, error) {
		return activities.CallResult{}, temporal.NewApplicationError("503 upstream", "server_error")
	})
	_, err := b.run(t, load(t, `
name: flaky
agents:
  w:
    system: W
    retry: {max_attempts: 3, initial_interval: 1s}
defaults:
  retry: {max_attempts: 2, initial_interval: 1s}
steps:
  - {id: one, agent: w, prompt: "1"}
`), `{}`)
	require.ErrorContains(t, err, "503 upstream")
	require.Len(t, b.calls, 3, "the agent's retry.max_attempts bounds the attempts")
}

func TestAgentStepsRunOnTheirQueue(t *testing.T) {
	t.Parallel()
	var queues []string // the task queue of each call, in order
	b := setupDSL(t, func(ctx context.Context, _, _ string, _ int) (activities.CallResult, error) {
		queues = append(queues, activity.GetInfo(ctx).TaskQueue)
		return text("ok", 0), nil
	})
	wf := load(t, `
name: queues
agents:
  local: {system: "Here."}
  private: {system: "There.", queue: gpu}
steps:
  - {id: a, agent: local}
  - {id: b, agent: private}
  - {id: c, agent: private, queue: edge}
`)
	_, err := b.run(t, wf, `{}`)
	require.NoError(t, err)
	// A step without a queue runs on the task's; an agent's queue holds for
	// its steps, and a step's own wins over it.
	require.Equal(t, []string{"default-test-taskqueue", "gpu", "edge"}, queues)
}
