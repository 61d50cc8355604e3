package workflows

// ToolDecisionSignal is the signal that answers a tool call waiting for
// approval; the workflow that waits is the one recorded on the call.
const ToolDecisionSignal = "tool_call_decision"

// ToolDecision is the payload of ToolDecisionSignal. By is the
// authenticated caller who decided, set by the API, never by the client.
type ToolDecision struct {
	CallID   string `json:"call_id"`
	Approved bool   `json:"approved"`
	Comment  string `json:"comment,omitempty"`
	By       string `json:"by"`
}
