package devserver

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
)

// FreePort returns a TCP port on ip that nothing listens on at the time of the
// call. Another process may take it before the caller binds it, so callers
// should bind it soon after. The port is below the kernel's range of
// ephemeral ports, when it can be, so that the outgoing connections of other
// programs never take it in the meantime.
func FreePort(ip string) (int, error) {
	ports, err := freePorts(ip, 1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct free TCP ports on ip, none of them in exclude.
// All are held open until the last one is found, so they cannot repeat.
func freePorts(ip string, n int, exclude ...int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	low, high := listenRange()
	for tries := 0; len(ports) < n; tries++ {
		port := 0 // the kernel's choice, when no range below the ephemeral one is left
		if high > low && tries < 100*n {
			port = low + rand.IntN(high-low)
		}
		if port != 0 && slices.Contains(exclude, port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			if port != 0 {
				continue // taken: try another
			}
			return nil, fmt.Errorf("find free port on %s: %w", ip, err)
		}
		listeners = append(listeners, l)
		if port = l.Addr().(*net.TCPAddr).Port; !slices.Contains(exclude, port) {
			ports = append(ports, port)
		}
	}
	return ports, nil
}

// listenRange is where FreePort looks for ports: the 10,000 ports below the
// kernel's ephemeral range (Linux's ip_local_port_range), or none when that
// range is unknown or starts too low.
func listenRange() (low, high int) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	var first, last int
	if _, err := fmt.Sscan(string(data), &first, &last); err != nil || first < 11024 {
		return 0, 0
	}
	return first - 10000, first
}

// checkPortFree returns an error naming port when something already listens
// on it at ip. Port 0 is always free.
func checkPortFree(ip string, port int) error {
	if port == 0 {
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on %s is not free: %w", port, ip, err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("release port %d: %w", port, err)
	}
	return nil
}
