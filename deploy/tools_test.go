package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

// The tools and schemas the chart is checked with. They are installed from the Go module
// proxy into the cache on first use, never into go.mod.
const (
	helmModule, helmVersion                 = "helm.sh/helm/v4", "v4.3.2"
	kubeconformModule, kubeconformVersion   = "github.com/yannh/kubeconform", "v0.8.0"
	kubernetesModule, kubernetesVersion     = "k8s.io/kubernetes", "v1.35.4" // the oldest Kubernetes still supported
	promOperatorModule, promOperatorVersion = "github.com/prometheus-operator/prometheus-operator", "v0.85.0"
	// schemaRevision names the way kubeSchemas converts: change it with strict, so that
	// schemas cached by an older conversion are made again.
	schemaRevision = "1"
)

// cacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/troupe, where the tools and schemas are kept.
func cacheDir(t *testing.T) string {
	t.Helper()
	dir, err := os.UserCacheDir()
	require.NoError(t, err)
	return filepath.Join(dir, "troupe")
}

// goTool returns the path of the command cmd (a package of module) at version, installed
// with go install into the cache's bin unless that version is there already.
func goTool(t *testing.T, module, cmd, version string) string {
	t.Helper()
	bin := filepath.Join(cacheDir(t), "bin", filepath.Base(cmd))
	// go version -m names the module the binary was built from: "\tmod\tPATH\tVERSION\t...".
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err == nil &&
		bytes.Contains(out, []byte("\tmod\t"+module+"\t"+version+"\t")) {
		return bin
	}
	install := exec.CommandContext(t.Context(), "go", "install", cmd+"@"+version)
	install.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin))
	out, err := install.CombinedOutput()
	require.NoError(t, err, "go install %s@%s: %s", cmd, version, out)
	return bin
}

// moduleDir downloads module at version from the Go module proxy (go mod download) and
// returns the folder it is extracted in.
func moduleDir(t *testing.T, module, version string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "mod", "download", "-json", module+"@"+version).Output()
	require.NoError(t, err, "go mod download %s@%s: %s", module, version, out)
	var m struct{ Dir, Error string }
	require.NoError(t, json.Unmarshal(out, &m))
	require.Empty(t, m.Error)
	return m.Dir
}

// kubeSchemas returns a folder of JSON schemas in kubeconform's layout
// ({{ .ResourceKind }}{{ .KindSuffix }}.json), made once and cached: kubeconform downloads
// its schemas from GitHub, which CI cannot reach, so they are made from the OpenAPI (v2)
// spec of Kubernetes in the k8s.io/kubernetes module and, for the ServiceMonitor, from the
// CRD in the prometheus-operator module, both fetched from the Go module proxy.
func kubeSchemas(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(cacheDir(t), "kubeconform", "kubernetes-"+kubernetesVersion+"-prometheus-operator-"+promOperatorVersion+"-r"+schemaRevision)
	if _, err := os.Stat(filepath.Join(dir, "_definitions.json")); err == nil {
		return dir
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(dir), 0o755))
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".schemas-")
	require.NoError(t, err)
	defer os.RemoveAll(tmp)

	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	data, err := os.ReadFile(filepath.Join(moduleDir(t, kubernetesModule, kubernetesVersion), "api", "openapi-spec", "swagger.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &spec))
	for name, def := range spec.Definitions {
		strict(def)
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, gvk := range gvks {
			gvk := gvk.(map[string]any)
			writeJSON(t, filepath.Join(tmp, schemaFile(gvk["kind"].(string), gvk["group"].(string), gvk["version"].(string))),
				map[string]any{"$ref": "_definitions.json#/definitions/" + name})
		}
	}
	// A resource's quantities (cpu: 1, memory: 512Mi) are numbers or strings.
	spec.Definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	writeJSON(t, filepath.Join(tmp, "_definitions.json"), spec)

	data, err = os.ReadFile(filepath.Join(moduleDir(t, promOperatorModule, promOperatorVersion), "example", "prometheus-operator-crd", "monitoring.coreos.com_servicemonitors.yaml"))
	require.NoError(t, err)
	var crd struct {
		Spec struct {
			Group    string
			Names    struct{ Kind string }
			Versions []struct {
				Name   string
				Schema struct {
					OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
				}
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(data, &crd))
	for _, v := range crd.Spec.Versions {
		strict(v.Schema.OpenAPIV3Schema)
		writeJSON(t, filepath.Join(tmp, schemaFile(crd.Spec.Names.Kind, crd.Spec.Group, v.Name)), v.Schema.OpenAPIV3Schema)
	}

	if err := os.Rename(tmp, dir); err != nil {
		// Another test process made it meanwhile.
		_, statErr := os.Stat(filepath.Join(dir, "_definitions.json"))
		require.NoError(t, statErr, "rename schemas: %v", err)
	}
	return dir
}

// schemaFile names the schema of a kind as kubeconform looks for it: deployment-apps-v1.json,
// service-v1.json, servicemonitor-monitoring-v1.json.
func schemaFile(kind, group, version string) string {
	name := strings.ToLower(kind)
	if group != "" {
		name += "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return name + "-" + version + ".json"
}

// strict makes an OpenAPI schema a strict JSON schema, as kubeconform's own are: an object
// with listed properties has no others (unless Kubernetes keeps unknown fields), and an
// int-or-string is either.
func strict(schema map[string]any) {
	if schema["format"] == "int-or-string" || schema["x-kubernetes-int-or-string"] == true {
		delete(schema, "type")
		delete(schema, "format")
		schema["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
	}
	if _, ok := schema["properties"]; ok && schema["x-kubernetes-preserve-unknown-fields"] != true {
		if _, ok := schema["additionalProperties"]; !ok {
			schema["additionalProperties"] = false
		}
	}
	if props, ok := schema["properties"].(map[string]any); ok {
		for _, p := range props {
			strict(p.(map[string]any))
		}
	}
	for _, key := range []string{"items", "additionalProperties", "not"} {
		if sub, ok := schema[key].(map[string]any); ok {
			strict(sub)
		}
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		if subs, ok := schema[key].([]any); ok {
			for _, sub := range subs {
				strict(sub.(map[string]any))
			}
		}
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}
