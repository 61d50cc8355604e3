package cli

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/ratelimit"
	"github.com/troupe-dev/troupe/worker"
)

// config is troupe's configuration, read once from the environment.
type config struct {
	DatabaseURL       string // DATABASE_URL
	TemporalAddress   string // TEMPORAL_ADDRESS
	TemporalNamespace string // TEMPORAL_NAMESPACE
	TaskQueue         string // TROUPE_TASK_QUEUE
	Addr              string // TROUPE_ADDR
	OpenAIKey         string // OPENAI_API_KEY
	OpenAIBaseURL     string // OPENAI_BASE_URL
	DefaultModel      string // TROUPE_DEFAULT_MODEL
	Definitions       string // TROUPE_DEFINITIONS: folder of agent/workflow YAML ("" = shipped examples)
	Prices            string // TROUPE_PRICES: YAML price table overriding the built-in one
	HashKey           string // TROUPE_HASH_KEY: secret keying the hash of user emails
	Auth              string // TROUPE_AUTH: "apikey" (API keys required; default of serve) or "none" (default of dev)
	TemporalUI        string // TROUPE_TEMPORAL_UI: Web UI base URL for task links
	OTLPEndpoint      string // OTEL_EXPORTER_OTLP_ENDPOINT
	LogLevel          string // TROUPE_LOG_LEVEL: debug, info, warn, error
	DataDir           string // TROUPE_DATA_DIR: where `troupe dev` keeps its state (default .troupe)
	APIURL            string // TROUPE_API_URL: the API `troupe run` talks to
	PublicURL         string // TROUPE_PUBLIC_URL: where clients reach the API, the server of its OpenAPI document
	APIKey            string // TROUPE_API_KEY: the key `troupe run` sends
	MetricsAddr       string // TROUPE_METRICS_ADDR: where a worker, and an API with keys, serve /metrics
	UIAddr            string // TROUPE_UI_ADDR: where `troupe dev` serves the Temporal Web UI ("off" = none)
	FileRoot          string // TROUPE_FILE_ROOT: root directory of the built-in file tools on this worker
	ToolQueue         string // TROUPE_TOOL_QUEUE: `troupe worker` polls this tool queue only
	StopTimeout       string // TROUPE_WORKER_STOP_TIMEOUT: how long a stopping worker lets activities finish
	Concurrency       string // TROUPE_ACTIVITY_CONCURRENCY: activities a worker runs at once
	Retention         string // TROUPE_RETENTION: how long the details of finished tasks are kept (0 = for ever)
	RateKey           string // TROUPE_RATE_KEY: requests a second per API key and burst, "20,40" (0 = off; default of dev)
	RateTenant        string // TROUPE_RATE_TENANT: requests a second per tenant and burst, "100,200" (0 = off; default of dev)
	TasksPerMinute    string // TROUPE_TASKS_PER_MINUTE: tasks a tenant may start a minute (0 = off; default of dev)
	TLSCert           string // TROUPE_TLS_CERT: PEM certificate (chain) the API serves TLS with
	TLSKey            string // TROUPE_TLS_KEY: its PEM key
	TLSClientCA       string // TROUPE_TLS_CLIENT_CA: PEM CA(s) whose client certificates the API requires
	APICA             string // TROUPE_API_CA: PEM CA(s) the commands verify the API's certificate with
	ClientCert        string // TROUPE_CLIENT_CERT: the commands' client certificate (PEM), for mutual TLS
	ClientKey         string // TROUPE_CLIENT_KEY: its private key (PEM)

	// getenv reads the environment at call time: tools resolve their ${VAR}
	// secrets with it, inside activities.
	getenv func(string) string
}

// loadConfig reads the environment and fills in defaults.
func loadConfig(getenv func(string) string) config {
	c := config{
		DatabaseURL:       getenv("DATABASE_URL"),
		TemporalAddress:   cmp.Or(getenv("TEMPORAL_ADDRESS"), "127.0.0.1:7233"),
		TemporalNamespace: cmp.Or(getenv("TEMPORAL_NAMESPACE"), "default"),
		TaskQueue:         cmp.Or(getenv("TROUPE_TASK_QUEUE"), "troupe"),
		Addr:              cmp.Or(getenv("TROUPE_ADDR"), "127.0.0.1:8080"),
		OpenAIKey:         getenv("OPENAI_API_KEY"),
		OpenAIBaseURL:     getenv("OPENAI_BASE_URL"),
		DefaultModel:      getenv("TROUPE_DEFAULT_MODEL"),
		Definitions:       getenv("TROUPE_DEFINITIONS"),
		Prices:            getenv("TROUPE_PRICES"),
		HashKey:           getenv("TROUPE_HASH_KEY"),
		Auth:              getenv("TROUPE_AUTH"),
		TemporalUI:        getenv("TROUPE_TEMPORAL_UI"),
		OTLPEndpoint:      getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
		LogLevel:          cmp.Or(getenv("TROUPE_LOG_LEVEL"), "info"),
		DataDir:           cmp.Or(getenv("TROUPE_DATA_DIR"), ".troupe"),
		MetricsAddr:       cmp.Or(getenv("TROUPE_METRICS_ADDR"), "127.0.0.1:9464"),
		UIAddr:            cmp.Or(getenv("TROUPE_UI_ADDR"), "127.0.0.1:8233"),
		FileRoot:          getenv("TROUPE_FILE_ROOT"),
		ToolQueue:         getenv("TROUPE_TOOL_QUEUE"),
		StopTimeout:       cmp.Or(getenv("TROUPE_WORKER_STOP_TIMEOUT"), "30s"),
		Concurrency:       getenv("TROUPE_ACTIVITY_CONCURRENCY"),
		Retention:         cmp.Or(getenv("TROUPE_RETENTION"), "0"),
		RateKey:           getenv("TROUPE_RATE_KEY"),
		RateTenant:        getenv("TROUPE_RATE_TENANT"),
		TasksPerMinute:    getenv("TROUPE_TASKS_PER_MINUTE"),
		TLSCert:           getenv("TROUPE_TLS_CERT"),
		TLSKey:            getenv("TROUPE_TLS_KEY"),
		TLSClientCA:       getenv("TROUPE_TLS_CLIENT_CA"),
		APICA:             getenv("TROUPE_API_CA"),
		ClientCert:        getenv("TROUPE_CLIENT_CERT"),
		ClientKey:         getenv("TROUPE_CLIENT_KEY"),
		getenv:            getenv,
	}
	c.APIKey = getenv("TROUPE_API_KEY")
	c.APIURL = cmp.Or(getenv("TROUPE_API_URL"), c.scheme()+"://"+c.Addr)
	c.PublicURL = cmp.Or(getenv("TROUPE_PUBLIC_URL"), c.scheme()+"://"+c.Addr)
	if c.DefaultModel == "" && c.OpenAIKey == "" {
		c.DefaultModel = "mock"
	}
	c.DefaultModel = cmp.Or(c.DefaultModel, "gpt-4o-mini")
	return c
}

// validate checks what the server commands (serve, worker) need.
func (c config) validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is not set"))
	}
	if c.Auth != "" && c.Auth != "apikey" && c.Auth != "none" {
		errs = append(errs, fmt.Errorf("TROUPE_AUTH is %q; use apikey or none", c.Auth))
	}
	if _, err := c.level(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.workerOptions(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.retention(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.rateLimits(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// scheme is the API's URL scheme: https when it serves TLS.
func (c config) scheme() string {
	if c.TLSCert != "" {
		return "https"
	}
	return "http"
}

// tlsConfig is the API's TLS configuration, nil when it serves plain HTTP:
// TLS with TROUPE_TLS_CERT and TROUPE_TLS_KEY, and with TROUPE_TLS_CLIENT_CA
// a client certificate issued by that CA is required of every connection,
// so a request without one never reaches a handler.
func (c config) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSKey == "" && c.TLSClientCA == "" {
		return nil, nil
	}
	if c.TLSCert == "" || c.TLSKey == "" {
		return nil, errors.New("TROUPE_TLS_CERT and TROUPE_TLS_KEY go together (and TROUPE_TLS_CLIENT_CA needs both)")
	}
	pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TROUPE_TLS_CERT and TROUPE_TLS_KEY: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if c.TLSClientCA != "" {
		pool, err := certPool("TROUPE_TLS_CLIENT_CA", c.TLSClientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// clientTLSConfig is the TLS configuration of the commands that talk to the
// API, nil for Go's defaults: the server's certificate verified against
// TROUPE_API_CA (else the system's roots), and the client certificate of
// TROUPE_CLIENT_CERT and TROUPE_CLIENT_KEY for an API that requires one.
func (c config) clientTLSConfig() (*tls.Config, error) {
	if c.APICA == "" && c.ClientCert == "" && c.ClientKey == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.APICA != "" {
		var err error
		if cfg.RootCAs, err = certPool("TROUPE_API_CA", c.APICA); err != nil {
			return nil, err
		}
	}
	if c.ClientCert != "" || c.ClientKey != "" {
		pair, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("TROUPE_CLIENT_CERT and TROUPE_CLIENT_KEY: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// certPool reads the PEM certificates of file, which setting names.
func certPool(setting, file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", setting, file)
	}
	return pool, nil
}

// rateLimits reads the API's rate limits, with the defaults of `troupe
// serve` for those unset (`troupe dev` sets them to 0, off).
func (c config) rateLimits() (api.RateLimits, error) {
	key, err := requestRate("TROUPE_RATE_KEY", cmp.Or(c.RateKey, "20,40"))
	if err != nil {
		return api.RateLimits{}, err
	}
	tenant, err := requestRate("TROUPE_RATE_TENANT", cmp.Or(c.RateTenant, "100,200"))
	if err != nil {
		return api.RateLimits{}, err
	}
	perMinute := cmp.Or(c.TasksPerMinute, "120")
	n, err := strconv.Atoi(perMinute)
	if err != nil || n < 0 {
		return api.RateLimits{}, fmt.Errorf("TROUPE_TASKS_PER_MINUTE is %q; use a number of tasks, or 0 for no limit", perMinute)
	}
	return api.RateLimits{Key: key, Tenant: tenant, TaskStarts: ratelimit.Limit{Rate: float64(n) / 60, Burst: n}}, nil
}

// requestRate reads a request rate, "REQUESTS_PER_SECOND,BURST" or 0 (off),
// from the variable name.
func requestRate(name, value string) (ratelimit.Limit, error) {
	if value == "0" {
		return ratelimit.Limit{}, nil
	}
	perSecond, burst, _ := strings.Cut(value, ",")
	var l ratelimit.Limit
	var err1, err2 error
	l.Rate, err1 = strconv.ParseFloat(perSecond, 64)
	l.Burst, err2 = strconv.Atoi(burst)
	if err1 != nil || err2 != nil || l.Rate <= 0 || l.Burst < 1 {
		return l, fmt.Errorf("%s is %q; use REQUESTS_PER_SECOND,BURST such as 20,40, or 0 for no limit", name, value)
	}
	return l, nil
}

// retention reads TROUPE_RETENTION.
func (c config) retention() (time.Duration, error) {
	d, err := time.ParseDuration(c.Retention)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("TROUPE_RETENTION is %q; use a duration such as 720h, or 0 to keep everything", c.Retention)
	}
	return d, nil
}

// workerOptions reads the worker settings.
func (c config) workerOptions() (worker.Options, error) {
	var o worker.Options
	var err error
	if o.StopTimeout, err = time.ParseDuration(c.StopTimeout); err != nil || o.StopTimeout < 0 {
		return o, fmt.Errorf("TROUPE_WORKER_STOP_TIMEOUT is %q; use a duration such as 30s", c.StopTimeout)
	}
	if c.Concurrency != "" {
		if o.ActivityConcurrency, err = strconv.Atoi(c.Concurrency); err != nil || o.ActivityConcurrency < 1 {
			return o, fmt.Errorf("TROUPE_ACTIVITY_CONCURRENCY is %q; use a positive number", c.Concurrency)
		}
	}
	return o, nil
}

func (c config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(c.LogLevel))); err != nil {
		return 0, fmt.Errorf("TROUPE_LOG_LEVEL is %q; use debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}
