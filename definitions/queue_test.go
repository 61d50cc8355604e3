package definitions

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQueuesListsEveryNamedQueueOnce(t *testing.T) {
	t.Parallel()
	cat, err := Validate(&Catalog{}, map[string][]byte{
		"agent.yaml": []byte("name: private\nsystem: x\nqueue: gpu\n"),
		"tool.yaml":  []byte("name: lookup\ndescription: d\nqueue: customer-site\nhttp: {url: 'http://x/'}\n"),
		"flow.yaml": []byte(`name: flow
agents:
  local: {system: y, queue: edge}
steps:
  - {id: a, agent: private}
  - loop:
      id: l
      max_iterations: 2
      until: "true"
      steps:
        - switch:
            id: s
            cases: [{when: "true", steps: [{id: deep, agent: local, queue: nested}]}]
  - {id: b, agent: local, queue: gpu}
`),
	})
	require.NoError(t, err)
	require.Equal(t, []string{"customer-site", "edge", "gpu", "nested"}, cat.Queues())
}
