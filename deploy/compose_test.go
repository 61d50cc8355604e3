// Package deploy_test checks the shipped deployment files for unsafe defaults.
package deploy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

// compose is the part of docker-compose.yml the checks read.
type compose struct {
	Services map[string]struct {
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

func TestComposeDefaultsAreSafe(t *testing.T) {
	data, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(data, &c))

	// Only the API, which requires API keys, listens beyond this machine.
	for name, svc := range c.Services {
		for _, port := range svc.Ports {
			if name != "api" {
				require.True(t, strings.HasPrefix(port, "127.0.0.1:"), "%s publishes %s on every interface", name, port)
			}
		}
	}
	require.Equal(t, "true", c.Services["temporal-ui"].Environment["TEMPORAL_DISABLE_WRITE_ACTIONS"], "the Temporal Web UI has no login: read-only")

	grafana := c.Services["grafana"].Environment
	require.Equal(t, "false", grafana["GF_AUTH_ANONYMOUS_ENABLED"])
	require.Equal(t, "false", grafana["GF_USERS_ALLOW_SIGN_UP"])
	require.Regexp(t, `^\$\{GRAFANA_ADMIN_PASSWORD:\?`, grafana["GF_SECURITY_ADMIN_PASSWORD"], "the admin password has no default")
}
