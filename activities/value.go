package activities

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// MaxInline is the largest JSON value passed through workflow history; larger
// values are kept in Postgres and passed by reference.
const MaxInline = 256 << 10

// Value is a JSON value on its way between workflow and activities: inline
// when small, else a reference to a blob in Postgres.
type Value struct {
	Inline json.RawMessage `json:"inline,omitempty"`
	Ref    string          `json:"ref,omitempty"`
}

// keep wraps v as a Value, storing it as a blob when it is too large for
// workflow history.
func (a *Activities) keep(ctx context.Context, taskID uuid.UUID, v json.RawMessage) (Value, error) {
	if len(v) <= MaxInline {
		return Value{Inline: v}, nil
	}
	ref, err := a.Store.PutBlob(ctx, taskID, v)
	if err != nil {
		return Value{}, fmt.Errorf("store large output: %w", err)
	}
	return Value{Ref: ref}, nil
}

// load returns the JSON a Value stands for.
func (a *Activities) load(ctx context.Context, v Value) (json.RawMessage, error) {
	if v.Ref == "" {
		return v.Inline, nil
	}
	data, err := a.Store.GetBlob(ctx, v.Ref)
	if err != nil {
		return nil, fmt.Errorf("load large output %s: %w", v.Ref, err)
	}
	return data, nil
}
