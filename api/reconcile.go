package api

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/troupe-dev/troupe/store"
)

// endedOutside maps the statuses a workflow can end in without running
// troupe's code (terminated by an operator, or past a timeout) to the task's
// status and error.
func endedOutside(st enums.WorkflowExecutionStatus) (store.Status, string, bool) {
	switch st {
	case enums.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return store.StatusFailed, "the workflow was terminated in Temporal; its history says by whom and why", true
	case enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return store.StatusTimedOut, "the workflow timed out in Temporal", true
	}
	return "", "", false
}

// reconcile brings a task that the store still shows as pending or running
// up to date with a workflow that ended without recording its outcome, such
// as one terminated with `temporal workflow terminate`; a task pending for
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
	status, msg, ok := endedOutside(info.GetStatus())
	if !ok {
		return t
	}
	if err := s.Store.FinishTask(ctx, t.ID, info.GetExecution().GetRunId(), status, nil, msg); err != nil {
		s.Logger.ErrorContext(ctx, "record workflow outcome", "task_id", t.ID, "error", err)
		return t
	}
	return s.reread(ctx, t)
}
