package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

// chart is the Helm chart, the one source of troupe's Kubernetes manifests.
const chart = "helm/troupe"

// allOn turns on every optional object: Ingress, ServiceMonitor, the API's autoscaler.
// allOff turns off the worker's autoscaler, the migration hook and API keys.
const (
	allOn  = chart + "/ci/all-on-values.yaml"
	allOff = chart + "/ci/all-off-values.yaml"
)

// render runs helm template on chartDir, as release troupe, with the values files.
func render(t *testing.T, helm, chartDir string, values ...string) []byte {
	t.Helper()
	args := []string{"template", "troupe", chartDir, "--namespace", "troupe"}
	for _, v := range values {
		args = append(args, "--values", v)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), helm, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "helm template: %s", stderr.String())
	return out
}

// validation is kubeconform's JSON report.
type validation struct {
	Resources []struct {
		Kind, Name, Status, Msg string
	}
	Summary struct{ Valid, Invalid, Errors, Skipped int }
}

// validate checks manifests with kubeconform, strictly (no unknown field, no duplicate
// key), against the schemas of kubeSchemas: no kind is skipped and none lacks a schema.
func validate(t *testing.T, manifests []byte) (validation, error) {
	t.Helper()
	kubeconform := goTool(t, kubeconformModule, kubeconformModule+"/cmd/kubeconform", kubeconformVersion)
	cmd := exec.CommandContext(t.Context(), kubeconform, "-strict", "-summary", "-output", "json",
		"-schema-location", filepath.Join(kubeSchemas(t), "{{ .ResourceKind }}{{ .KindSuffix }}.json"), "-")
	cmd.Stdin = bytes.NewReader(manifests)
	out, err := cmd.Output()
	var v validation
	require.NoError(t, json.Unmarshal(out, &v), "kubeconform: %s", out)
	return v, err
}

// manifest is the part of a rendered object the checks read.
type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// podSpec is the part of a pod template the checks read.
type podSpec struct {
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
	SecurityContext              struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []struct {
		Name string `yaml:"name"`
		Env  []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom struct {
				SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		EnvFrom         []any  `yaml:"envFrom"`
		LivenessProbe   *probe `yaml:"livenessProbe"`
		ReadinessProbe  *probe `yaml:"readinessProbe"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		} `yaml:"securityContext"`
	} `yaml:"containers"`
}

type probe struct {
	HTTPGet struct{ Path, Port string } `yaml:"httpGet"`
}

// secrets lists the Secrets a pod reads.
func (p podSpec) secrets() []string {
	var names []string
	for _, c := range p.Containers {
		for _, e := range c.Env {
			if e.ValueFrom.SecretKeyRef.Name != "" {
				names = append(names, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	return names
}

// objects decodes rendered manifests, by "Kind/name".
func objects(t *testing.T, manifests []byte) map[string]manifest {
	t.Helper()
	objs := map[string]manifest{}
	dec := yaml.NewDecoder(bytes.NewReader(manifests))
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		require.NoError(t, err)
		objs[m.Kind+"/"+m.Metadata.Name] = m
	}
}

// The chart passes helm lint and renders, with its defaults, everything turned on and off,
// manifests that kubeconform finds valid against Kubernetes' own schemas, unknown fields
// refused, and no object left unchecked.
func TestHelmChartIsValid(t *testing.T) {
	helm := goTool(t, helmModule, helmModule+"/cmd/helm", helmVersion)
	for _, values := range [][]string{nil, {allOn}, {allOff}} {
		args := []string{"lint", "--strict", chart}
		for _, v := range values {
			args = append(args, "--values", v)
		}
		out, err := exec.CommandContext(t.Context(), helm, args...).CombinedOutput()
		require.NoError(t, err, "helm lint: %s", out)
	}

	for _, tc := range []struct {
		values []string
		want   []string
	}{
		{nil, []string{"Deployment/troupe-api", "Deployment/troupe-worker", "HorizontalPodAutoscaler/troupe-worker",
			"Job/troupe-migrate", "Service/troupe-api", "Service/troupe-metrics"}},
		{[]string{allOn}, []string{"Deployment/troupe-api", "Deployment/troupe-worker", "Deployment/troupe-worker-gpu",
			"HorizontalPodAutoscaler/troupe-api", "HorizontalPodAutoscaler/troupe-worker", "Ingress/troupe-api",
			"Job/troupe-migrate", "Service/troupe-api", "Service/troupe-metrics", "ServiceMonitor/troupe"}},
		{[]string{allOff}, []string{"Deployment/troupe-api", "Deployment/troupe-worker", "Service/troupe-api", "Service/troupe-metrics"}},
	} {
		manifests := render(t, helm, chart, tc.values...)
		require.Equal(t, tc.want, slices.Sorted(maps.Keys(objects(t, manifests))), "values %v", tc.values)
		v, err := validate(t, manifests)
		require.NoError(t, err, "values %v: %+v", tc.values, v.Resources)
		require.Equal(t, len(tc.want), v.Summary.Valid, "values %v: %+v", tc.values, v)
	}
}

// A template that renders a field Kubernetes does not know fails the check, naming it, and
// so does a misspelt value (values.schema.json).
func TestHelmChartCheckCatchesABrokenTemplate(t *testing.T) {
	helm := goTool(t, helmModule, helmModule+"/cmd/helm", helmVersion)
	out, err := exec.CommandContext(t.Context(), helm, "template", "troupe", chart, "--set", "workers.replicas=4").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "additional properties 'workers' not allowed")

	broken := t.TempDir()
	require.NoError(t, os.CopyFS(broken, os.DirFS(chart)))
	path := filepath.Join(broken, "templates", "worker.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(data), "terminationGracePeriodSeconds:")
	data = bytes.Replace(data, []byte("terminationGracePeriodSeconds:"), []byte("terminationGracePeriod:"), 1)
	require.NoError(t, os.WriteFile(path, data, 0o644))

	v, err := validate(t, render(t, helm, broken))
	require.Error(t, err)
	require.Equal(t, 1, v.Summary.Invalid, "%+v", v)
	require.Equal(t, "Deployment", v.Resources[0].Kind)
	require.Contains(t, v.Resources[0].Msg, "terminationGracePeriod")
}

// The pods run as the binary expects: api and worker read only variables troupe reads, the
// database URL and the hash key from Secrets, and only the migration Job sees the owner's
// URL (Secret troupe-migrate); probes on /healthz and /readyz; no root, read-only root.
func TestHelmChartPods(t *testing.T) {
	helm := goTool(t, helmModule, helmModule+"/cmd/helm", helmVersion)
	config, err := os.ReadFile("../cli/config.go")
	require.NoError(t, err)
	read := []string{"GOMEMLIMIT"} // read by the Go runtime
	for _, m := range regexp.MustCompile(`getenv\("([A-Z_]+)"\)`).FindAllSubmatch(config, -1) {
		read = append(read, string(m[1]))
	}

	for _, values := range [][]string{nil, {allOn}} {
		objs := objects(t, render(t, helm, chart, values...))
		job := objs["Job/troupe-migrate"]
		require.Equal(t, "pre-install,pre-upgrade", job.Metadata.Annotations["helm.sh/hook"])
		require.Equal(t, []string{"troupe-migrate"}, job.Spec.Template.Spec.secrets())

		var pods []string
		for name, obj := range objs {
			if obj.Kind == "Deployment" || obj.Kind == "Job" {
				pods = append(pods, name)
			}
		}
		require.Subset(t, pods, []string{"Deployment/troupe-api", "Deployment/troupe-worker", "Job/troupe-migrate"})
		for _, name := range pods {
			pod := objs[name].Spec.Template.Spec
			require.Len(t, pod.Containers, 1, name)
			c := pod.Containers[0]
			require.True(t, pod.SecurityContext.RunAsNonRoot, name)
			require.Equal(t, new(false), pod.AutomountServiceAccountToken, name)
			require.True(t, c.SecurityContext.ReadOnlyRootFilesystem, name)
			require.Equal(t, new(false), c.SecurityContext.AllowPrivilegeEscalation, name)
			require.Empty(t, c.EnvFrom, name)
			env := map[string]string{}
			for _, e := range c.Env {
				require.Contains(t, read, e.Name, "%s sets a variable troupe does not read", name)
				env[e.Name] = e.Value + e.ValueFrom.SecretKeyRef.Name
			}
			require.NotEmpty(t, env["DATABASE_URL"], name)
			if name == "Job/troupe-migrate" {
				continue
			}
			require.NotContains(t, pod.secrets(), "troupe-migrate", name)
			require.Equal(t, "troupe-secrets", env["DATABASE_URL"], name)
			require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, name)
			require.Equal(t, "0.0.0.0:9464", env["TROUPE_METRICS_ADDR"], name)
			queue := "troupe"
			if pool, ok := strings.CutPrefix(name, "Deployment/troupe-worker-"); ok {
				queue = pool // the pools of ci/all-on-values.yaml poll the queue of their name
			}
			require.Equal(t, queue, env["TROUPE_TASK_QUEUE"], name)
		}

		api := objs["Deployment/troupe-api"].Spec.Template.Spec.Containers[0]
		require.Equal(t, "/readyz", api.ReadinessProbe.HTTPGet.Path)
		require.Contains(t, objs["Deployment/troupe-api"].Spec.Template.Spec.secrets(), "troupe-secrets")
		var hashKey bool
		for _, e := range api.Env {
			hashKey = hashKey || e.Name == "TROUPE_HASH_KEY" && e.ValueFrom.SecretKeyRef.Key == "TROUPE_HASH_KEY"
		}
		require.True(t, hashKey, "the API reads its hash key from the Secret")
		require.Equal(t, "metrics", objs["Deployment/troupe-worker"].Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Port)
	}
}
