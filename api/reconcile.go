package api

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/store"
)

// closedOutcome is the outcome of a workflow that closed while the store
// still shows its task unfinished: ended without running troupe's code
// (terminated, timed out), or ended by its code while the store could not
// record it (Postgres was down longer than the write could wait). ok is false
// for a workflow still running.
func (s *Server) closedOutcome(ctx context.Context, t store.Task, info *workflowpb.WorkflowExecutionInfo) (status store.Status, output json.RawMessage, msg string, ok bool) {
	switch info.GetStatus() {
	case enums.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return store.StatusFailed, nil, "the workflow was terminated in Temporal; its history says by whom and why", true
	case enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return store.StatusTimedOut, nil, "the workflow timed out in Temporal", true
	case enums.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return store.StatusCanceled, nil, "canceled", true
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, enums.WORKFLOW_EXECUTION_STATUS_FAILED:
	default:
		return "", nil, "", false
	}
	var result activities.Value
	err := s.Temporal.GetWorkflow(ctx, t.WorkflowID, info.GetExecution().GetRunId()).Get(ctx, &result)
	if info.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_FAILED {
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			return store.StatusFailed, nil, app.Message(), true
		}
		return store.StatusFailed, nil, "the workflow failed; its history says why", true
	}
	if err != nil {
		return "", nil, "", false // the result cannot be read now: leave the task as it is
	}
	output = result.Inline
	if result.Ref != "" {
		if output, err = s.Store.GetBlob(ctx, result.Ref); err != nil {
			return "", nil, "", false
		}
	}
	return store.StatusCompleted, output, "", true
}

// reconcile brings a task that the store still shows as pending or running
// up to date with a workflow that closed without recording its outcome (one
// terminated with `temporal workflow terminate`, or one whose last write
// gave up while Postgres was down), whatever status it closed with; a task pending for
// longer than strandedAfter with no workflow has its workflow started (see
// startStranded). It returns the task as it now stands; when Temporal cannot
// tell, the task is left as it is.
func (s *Server) reconcile(ctx context.Context, t store.Task) store.Task {
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, t.WorkflowID, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) && t.Status == store.StatusPending && time.Since(t.CreatedAt) > strandedAfter {
		return s.startStranded(ctx, t)
	}
	if err != nil {
		s.Logger.DebugContext(ctx, "describe workflow", "task_id", t.ID, "error", err)
		return t
	}
	info := desc.GetWorkflowExecutionInfo()
	status, output, msg, ok := s.closedOutcome(ctx, t, info)
	if !ok {
		return t
	}
	if err := s.Store.FinishTask(ctx, t.ID, info.GetExecution().GetRunId(), status, output, msg); err != nil {
		s.Logger.ErrorContext(ctx, "record workflow outcome", "task_id", t.ID, "error", err)
		return t
	}
	return s.reread(ctx, t)
}
