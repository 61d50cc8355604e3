package devserver

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// Ports handed out lie below the kernel's ephemeral range, where no outgoing
// connection can take them before they are bound, and are distinct.
func TestFreePortsAvoidTheEphemeralRange(t *testing.T) {
	t.Parallel()
	low, high := listenRange()
	if high == 0 {
		t.Skip("no ephemeral port range to avoid on this system")
	}
	ports, err := freePorts("127.0.0.1", 20, low)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range ports {
		require.GreaterOrEqual(t, p, low)
		require.Less(t, p, high)
		require.NotEqual(t, low, p, "excluded")
		require.False(t, seen[p], "port %d twice", p)
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err, "free once handed out")
		require.NoError(t, l.Close())
	}
}
