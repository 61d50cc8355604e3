// Package tasklog keeps the log lines troupe's activities write while a task
// runs with the task, as its "log" events: a Temporal worker interceptor
// that also records each failed attempt of an activity, and a success that
// took more than one.
//
// Only lines at Info level and above are kept; Debug lines go to the
// worker's log only. Writing a line never fails an activity: a line that
// cannot be written is reported in the worker's log and dropped.
package tasklog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"

	"github.com/troupe-dev/troupe/store"
)

// Appender writes a task's log line, once per dedupeKey (store.Store).
type Appender interface {
	AppendLog(ctx context.Context, taskID uuid.UUID, dedupeKey string, at time.Time, line store.LogLine) error
}

// writeTimeout bounds the write of one line.
const writeTimeout = 5 * time.Second

// NewInterceptor returns the worker interceptor that keeps the log lines of
// the activities of tasks' workflows with their tasks, through logs.
func NewInterceptor(logs Appender) interceptor.WorkerInterceptor {
	return &workerInterceptor{logs: logs}
}

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	logs Appender
}

// InterceptActivity is called once per activity attempt, with its context.
func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	info := activity.GetInfo(ctx)
	task, ok := store.TaskOfWorkflow(info.WorkflowExecution.ID)
	if !ok || info.IsLocalActivity {
		return next
	}
	return &attempt{
		ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next},
		logs:                           w.logs, task: task, activity: info.ActivityType.Name, number: info.Attempt,
		key: info.WorkflowExecution.RunID + "/" + info.ActivityID + "#" + strconv.Itoa(int(info.Attempt)),
	}
}

// attempt is one attempt of an activity of a task.
type attempt struct {
	interceptor.ActivityInboundInterceptorBase
	logs     Appender
	task     uuid.UUID
	activity string
	number   int32
	key      string
	lines    atomic.Int64
	out      *outboundInterceptor
}

func (a *attempt) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	a.out = &outboundInterceptor{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}, attempt: a}
	return a.Next.Init(a.out)
}

func (a *attempt) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	// The worker's logger as it is without this interceptor: a line that
	// cannot be kept is reported there, not kept (and failing) again.
	worker := a.out.Next.GetLogger(ctx)
	out, err := a.Next.ExecuteActivity(ctx, in)
	// The line about the attempt's outcome is written before its result
	// goes back, so that it comes before what the workflow does next (the
	// task's final event, say). Its heartbeats have stopped: writeTimeout
	// stays well within the heartbeat timeout left.
	switch {
	case err != nil:
		a.keep(ctx, worker, "warn", fmt.Sprintf("%s attempt %d failed: %v", a.activity, a.number, err), nil)
	case a.number > 1:
		a.keep(ctx, worker, "info", fmt.Sprintf("%s succeeded on attempt %d", a.activity, a.number), nil)
	}
	return out, err
}

// keep writes a line of the attempt to its task; a line it cannot write
// is reported to worker, a logger whose lines are not kept.
func (a *attempt) keep(ctx context.Context, worker log.Logger, level, msg string, keyvals []any) {
	line := store.LogLine{Level: level, Message: msg, Node: a.activity, Attrs: attrs(keyvals)}
	key := a.key + ":" + strconv.FormatInt(a.lines.Add(1), 10)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := a.logs.AppendLog(wctx, a.task, key, time.Now(), line); err != nil {
		worker.Warn("keep a task's log line", "task_id", a.task, "error", err)
	}
}

// attrs turns logger key-value pairs into a JSON object (nil for none).
func attrs(keyvals []any) json.RawMessage {
	if len(keyvals) == 0 {
		return nil
	}
	m := make(map[string]any, len(keyvals)/2+1)
	for i := 0; i < len(keyvals); i += 2 {
		key := fmt.Sprint(keyvals[i])
		if i+1 == len(keyvals) {
			m["!BADKEY"] = key
			break
		}
		v := keyvals[i+1]
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		m[key] = v
	}
	raw, err := json.Marshal(m)
	if err != nil { // a value JSON cannot hold: keep the text of each
		text := make(map[string]string, len(m))
		for k, v := range m {
			text[k] = fmt.Sprint(v)
		}
		raw, _ = json.Marshal(text)
	}
	return raw
}

type outboundInterceptor struct {
	interceptor.ActivityOutboundInterceptorBase
	attempt *attempt
}

// GetLogger returns the activity's logger, which also keeps its lines at
// Info and above with the task.
func (o *outboundInterceptor) GetLogger(ctx context.Context) log.Logger {
	return &logger{Logger: o.Next.GetLogger(ctx), ctx: ctx, attempt: o.attempt}
}

type logger struct {
	log.Logger
	ctx     context.Context
	attempt *attempt
	with    []any
}

func (l *logger) Info(msg string, keyvals ...any) {
	l.Logger.Info(msg, keyvals...)
	l.attempt.keep(l.ctx, l.Logger, "info", msg, append(l.with[:len(l.with):len(l.with)], keyvals...))
}

func (l *logger) Warn(msg string, keyvals ...any) {
	l.Logger.Warn(msg, keyvals...)
	l.attempt.keep(l.ctx, l.Logger, "warn", msg, append(l.with[:len(l.with):len(l.with)], keyvals...))
}

func (l *logger) Error(msg string, keyvals ...any) {
	l.Logger.Error(msg, keyvals...)
	l.attempt.keep(l.ctx, l.Logger, "error", msg, append(l.with[:len(l.with):len(l.with)], keyvals...))
}

// With returns a logger that adds keyvals to each line.
func (l *logger) With(keyvals ...any) log.Logger {
	next := log.With(l.Logger, keyvals...)
	return &logger{Logger: next, ctx: l.ctx, attempt: l.attempt, with: append(l.with[:len(l.with):len(l.with)], keyvals...)}
}
