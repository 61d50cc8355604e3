// Package examples holds the agent, tool and workflow definitions shipped
// with troupe: agents/*.yaml, tools/*.yaml and workflows/*.yaml, loaded when
// TROUPE_DEFINITIONS names no folder of its own.
package examples

import "embed"

// FS holds the shipped definitions, under agents/, tools/ and workflows/.
//
//go:embed agents tools workflows
var FS embed.FS
