package devserver

import (
	"fmt"
	"net"
	"slices"
	"strconv"
)

// FreePort returns a TCP port on ip that nothing listens on at the time of the
// call. Another process may take it before the caller binds it, so callers
// should bind it soon after.
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
	for len(ports) < n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("find free port on %s: %w", ip, err)
		}
		listeners = append(listeners, l)
		if port := l.Addr().(*net.TCPAddr).Port; !slices.Contains(exclude, port) {
			ports = append(ports, port)
		}
	}
	return ports, nil
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
