package workflows

import (
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes set on every task's workflow, so tasks can be found in
// the Web UI and with `temporal workflow list --query 'TroupeTenant="acme"'`.
var (
	// TenantKey is the tenant that owns the task.
	TenantKey = temporal.NewSearchAttributeKeyKeyword("TroupeTenant")
	// TaskTypeKey is the task type (an agent, or workflow:<name>).
	TaskTypeKey = temporal.NewSearchAttributeKeyKeyword("TroupeTaskType")
	// UserHashKey is the keyed hash of the submitting user's email.
	UserHashKey = temporal.NewSearchAttributeKeyKeyword("TroupeUserHash")
)

// SearchAttributes returns troupe's custom search attributes with their
// types, as a namespace must have them registered.
func SearchAttributes() map[string]enums.IndexedValueType {
	attrs := make(map[string]enums.IndexedValueType)
	for _, k := range []temporal.SearchAttributeKeyKeyword{TenantKey, TaskTypeKey, UserHashKey} {
		attrs[k.GetName()] = enums.INDEXED_VALUE_TYPE_KEYWORD
	}
	return attrs
}
