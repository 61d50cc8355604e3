// Package examples holds the agent and workflow definitions shipped with
// troupe: agents/*.yaml and workflows/*.yaml, loaded when TROUPE_DEFINITIONS
// names no folder of its own.
package examples

import "embed"

// FS holds the shipped definitions, under agents/ and workflows/.
//
//go:embed agents workflows
var FS embed.FS
