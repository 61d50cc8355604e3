package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/store"
)

// ScheduledTask is a task that a schedule starts: what CreateScheduledTask
// stores, as POST /v1/tasks would, pinned when the schedule was created.
type ScheduledTask struct {
	ID             uuid.UUID       `json:"id"`
	TenantID       string          `json:"tenant_id"`
	ScheduleID     string          `json:"schedule_id"`
	Type           string          `json:"type"`
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	Queue          string          `json:"queue,omitempty"`
	Timeout        time.Duration   `json:"timeout,omitzero"`
	Priority       int             `json:"priority,omitzero"`
	DefinitionHash string          `json:"definition_hash,omitempty"`
}

// CreateScheduledTask inserts the pending task of one run of a schedule,
// linked to it by its metadata {"schedule_id": ...}, by the actor
// "schedule:<id>". The task id comes with t, so a retry inserts nothing more.
func (a *Activities) CreateScheduledTask(ctx context.Context, t ScheduledTask) error {
	metadata, err := json.Marshal(map[string]string{"schedule_id": t.ScheduleID})
	if err != nil {
		return err
	}
	_, _, err = a.Store.CreateTask(ctx, store.NewTask{
		ID: t.ID, TenantID: t.TenantID, Type: t.Type, Input: t.Input, Model: t.Model,
		Priority: t.Priority, Queue: t.Queue, Timeout: t.Timeout, Metadata: metadata,
		DefinitionHash: t.DefinitionHash, Actor: "schedule:" + t.ScheduleID,
	})
	if err != nil {
		return fmt.Errorf("create task %s of schedule %s: %w", t.ID, t.ScheduleID, err)
	}
	return nil
}
