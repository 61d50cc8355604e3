package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	common "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/troupe-dev/troupe/store"
)

// Run is one run of a task's workflow.
type Run struct {
	RunID     string       `json:"run_id"`
	StartedAt time.Time    `json:"started_at"`
	Status    store.Status `json:"status" enum:"running,completed,failed,canceled,timed_out,reset" doc:"How the run ended the task; running for the current run while it runs; reset for a run a reset replaced while it ran."`
	Error     string       `json:"error,omitempty"`
	EndedAt   *time.Time   `json:"ended_at,omitempty"`
}

// runs lists the runs of task t.
func (s *Server) runs(ctx context.Context, t store.Task) ([]Run, error) {
	found, err := s.Store.ListRuns(ctx, t.TenantID, t.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Run, 0, len(found))
	for _, r := range found {
		run := Run{RunID: r.RunID, StartedAt: r.StartedAt, Status: r.Status, Error: r.Error, EndedAt: r.EndedAt}
		if run.Status == "" {
			run.Status = store.StatusRunning
			if r.RunID != t.RunID {
				run.Status = "reset"
			}
		}
		out = append(out, run)
	}
	return out, nil
}

func (s *Server) registerRetry(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "retryTask", Method: http.MethodPost, Path: "/v1/tasks/{id}/retry",
		Summary: "Retry a task from the step that failed",
		Description: "Restarts a failed, canceled or timed-out task from the step that failed: its workflow is reset to the last workflow task completed before that step, so the steps that completed, and their LLM calls, are kept and not paid again. " +
			"The task goes back to running in a new run (see runs). The retry is audited (task_retried) with who asked. Answers 202; 409 for a task that has not ended or that completed.",
		DefaultStatus: http.StatusAccepted, Tags: []string{"tasks"}, Errors: problems(http.StatusNotFound, http.StatusConflict),
	}, s.retryTask)
}

func (s *Server) retryTask(ctx context.Context, in *TaskIDInput) (*TaskOutput, error) {
	if err := s.allowStart(who(ctx)); err != nil {
		return nil, err
	}
	t, err := s.Store.GetTask(ctx, who(ctx).Tenant, uuid.MustParse(in.ID))
	if err != nil {
		return nil, s.fail(ctx, "task "+in.ID, err)
	}
	if err := runByTroupe(t); err != nil {
		return nil, err
	}
	switch t.Status {
	case store.StatusFailed, store.StatusCanceled, store.StatusTimedOut:
	default:
		return nil, huma.Error409Conflict(fmt.Sprintf("task %s is %s: only a failed, canceled or timed-out task can be retried", t.ID, t.Status))
	}
	point, err := s.resetPoint(ctx, t)
	if err != nil {
		return nil, s.fail(ctx, "task "+in.ID, err)
	}
	meta := map[string]string{"run_id": t.RunID, "reset_event_id": fmt.Sprint(point.eventID), "failed": point.failed}
	err = s.deliver(ctx, t, "task_retried", meta, func(ctx context.Context, t store.Task) error {
		resp, err := s.Temporal.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
			Namespace:                 s.Namespace,
			WorkflowExecution:         &common.WorkflowExecution{WorkflowId: t.WorkflowID, RunId: t.RunID},
			Reason:                    "troupe retry by " + who(ctx).Actor,
			WorkflowTaskFinishEventId: point.eventID,
			RequestId:                 uuid.NewString(),
		})
		if err != nil {
			return err
		}
		// The new run takes the task over now, not with its first step.
		return s.Store.StartTask(ctx, t.ID, resp.GetRunId())
	})
	if err != nil {
		return nil, err
	}
	t = s.reread(ctx, t)
	return &TaskOutput{Status: http.StatusAccepted, Body: s.task(t)}, nil
}

// resetTarget is where a retry resets a task's workflow to.
type resetTarget struct {
	eventID int64  // the WorkflowTaskCompleted event
	failed  string // what failed: "activity CallLLM", "child task-x/two", "cancel requested", ...
}

// resetPoint finds, in the history of the task's run, the last workflow task completed
// before the step that failed: before the first activity or child workflow that failed,
// timed out or was canceled, or the cancel request, whichever came first. A run that ended
// with none of them (it failed in workflow code, or timed out as a whole) goes back to its
// last completed workflow task.
func (s *Server) resetPoint(ctx context.Context, t store.Task) (resetTarget, error) {
	var completed []int64 // WorkflowTaskCompleted event ids, in order
	var scheduled = map[int64]string{}
	var failedAt int64
	var failed string
	it := s.Temporal.GetWorkflowHistory(ctx, t.WorkflowID, t.RunID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() && failedAt == 0 {
		e, err := it.Next()
		if err != nil {
			return resetTarget{}, fmt.Errorf("read history of %s: %w", t.WorkflowID, err)
		}
		failedAt, failed = failedStep(e, scheduled)
		switch e.GetEventType() {
		case enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			completed = append(completed, e.GetEventId())
		case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[e.GetEventId()] = "activity " + e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case enums.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			scheduled[e.GetEventId()] = "step " + e.GetStartChildWorkflowExecutionInitiatedEventAttributes().GetWorkflowId()
		}
	}
	for i := len(completed) - 1; i >= 0; i-- {
		if failedAt == 0 || completed[i] < failedAt {
			if failed == "" {
				failed = "the workflow"
			}
			return resetTarget{eventID: completed[i], failed: failed}, nil
		}
	}
	return resetTarget{}, fmt.Errorf("%w: the history of %s has no completed workflow task to go back to", store.ErrConflict, t.WorkflowID)
}

// failedStep tells whether e ends a step unsuccessfully (or asks for cancellation), and
// then returns the event that started that step and what it was; scheduled maps the ids of
// the events that started activities and child workflows to what they were.
func failedStep(e *historypb.HistoryEvent, scheduled map[int64]string) (int64, string) {
	var start int64
	switch e.GetEventType() {
	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
		return e.GetEventId(), "cancel requested"
	case enums.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		start = e.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
	case enums.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		start = e.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()
	case enums.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		start = e.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()
	case enums.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
		start = e.GetChildWorkflowExecutionFailedEventAttributes().GetInitiatedEventId()
	case enums.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
		start = e.GetChildWorkflowExecutionTimedOutEventAttributes().GetInitiatedEventId()
	case enums.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
		start = e.GetChildWorkflowExecutionCanceledEventAttributes().GetInitiatedEventId()
	case enums.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED:
		start = e.GetChildWorkflowExecutionTerminatedEventAttributes().GetInitiatedEventId()
	case enums.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
		start = e.GetStartChildWorkflowExecutionFailedEventAttributes().GetInitiatedEventId()
	default:
		return 0, ""
	}
	return start, scheduled[start]
}
