package store

// Status is a task or subtask status.
type Status string

// The statuses of tasks and subtasks: pending → running → one of the terminal ones.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
	StatusTimedOut  Status = "timed_out"
)

// Terminal reports whether s is a final status: completed, failed, canceled or timed_out.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusCanceled, StatusTimedOut:
		return true
	}
	return false
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	return s == StatusPending || s == StatusRunning || s.Terminal()
}
