package devserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"go.temporal.io/api/enums/v1"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

const (
	// clusterName names the single cluster of the embedded server.
	clusterName = "active"
	// storeName names the SQLite data store in the server config.
	storeName = "sqlite-default"
	// startTimeout bounds how long StartTemporal waits for the server and UI.
	startTimeout = time.Minute
	// levelSilent is above every level a logger uses.
	levelSilent = slog.Level(1 << 20)
)

// TemporalConfig configures an embedded Temporal server.
type TemporalConfig struct {
	// IP is the address every service binds to; default "127.0.0.1". It must
	// be an IP, not a host name.
	IP string
	// Port is the frontend gRPC port; 0 picks a free port.
	Port int
	// UIPort is the Web UI port; 0 runs no UI.
	UIPort int
	// DatabaseFile is the SQLite file holding the server's state; "" keeps it
	// in memory, lost on Stop. An existing file is reopened with its history.
	DatabaseFile string
	// Namespace is created at start if missing; default "default".
	Namespace string
	// SearchAttributes are custom search attributes the namespace is
	// created with.
	SearchAttributes map[string]enums.IndexedValueType
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
	// LogLevel is the lowest level of server logs passed to Logger, read at
	// start; default slog.LevelWarn, because the server is chatty. Stop
	// silences the server, whose shutdown is noisy.
	LogLevel slog.Leveler
}

func (c TemporalConfig) withDefaults() TemporalConfig {
	c.IP = cmp.Or(c.IP, "127.0.0.1")
	c.Namespace = cmp.Or(c.Namespace, "default")
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LogLevel == nil {
		c.LogLevel = slog.LevelWarn
	}
	return c
}

func (c TemporalConfig) validate() error {
	if net.ParseIP(c.IP) == nil {
		return fmt.Errorf("temporal IP %q is not an IP address", c.IP)
	}
	for _, p := range []int{c.Port, c.UIPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("temporal port %d out of range", p)
		}
	}
	if c.Port != 0 && c.Port == c.UIPort {
		return fmt.Errorf("temporal frontend and UI both on port %d", c.Port)
	}
	return nil
}

// Temporal is a running embedded Temporal server, with its Web UI when one
// was asked for.
type Temporal struct {
	server    temporal.Server
	ui        *uiserver.Server
	uiDone    chan struct{}
	address   string
	uiURL     string
	namespace string
	logger    *slog.Logger   // for this package's own messages
	logLevel  *slog.LevelVar // floor of the server's logs
	stopOnce  sync.Once
}

// StartTemporal starts an embedded Temporal server (all services in this
// process, SQLite persistence, one history shard) and, when cfg.UIPort is
// set, its Web UI. It returns once the frontend answers and the namespace,
// is usable.
func StartTemporal(ctx context.Context, cfg TemporalConfig) (*Temporal, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	logLevel := new(slog.LevelVar)
	logLevel.Set(cfg.LogLevel.Level())
	serverLog := withMinLevel(cfg.Logger, logLevel)

	for _, p := range []int{cfg.Port, cfg.UIPort} {
		if err := checkPortFree(cfg.IP, p); err != nil {
			return nil, err
		}
	}
	// Frontend gRPC (unless given), history, matching, the system worker and
	// the frontend's HTTP API (which Nexus needs).
	ports, err := freePorts(cfg.IP, 5, cfg.Port, cfg.UIPort)
	if err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = ports[0]
	}
	address := net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))

	sqlConf, err := prepareSQLite(cfg.DatabaseFile, cfg.Namespace, cfg.SearchAttributes)
	if err != nil {
		return nil, err
	}
	servicePorts := map[primitives.ServiceName]int{
		primitives.FrontendService: cfg.Port,
		primitives.HistoryService:  ports[1],
		primitives.MatchingService: ports[2],
		primitives.WorkerService:   ports[3],
	}
	server, err := temporal.NewServer(
		temporal.WithConfig(serverConfig(cfg.IP, sqlConf, servicePorts, ports[4])),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(staticHosts(cfg.IP, servicePorts)),
		temporal.WithLogger(serverLogger{slog: serverLog}),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := server.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	t := &Temporal{server: server, address: address, namespace: cfg.Namespace, logger: cfg.Logger, logLevel: logLevel}
	if cfg.UIPort != 0 {
		t.startUI(cfg.IP, cfg.UIPort)
	}
	if err := t.waitReady(ctx, serverLog); err != nil {
		t.Stop()
		return nil, err
	}
	return t, nil
}

// Address returns the frontend gRPC address, e.g. "127.0.0.1:7233".
func (t *Temporal) Address() string { return t.address }

// UIURL returns the Web UI URL, e.g. "http://127.0.0.1:8233", or "" when the
// server runs without UI.
func (t *Temporal) UIURL() string { return t.uiURL }

// Namespace returns the namespace created at start.
func (t *Temporal) Namespace() string { return t.namespace }

// Stop stops the UI and the server and releases their ports. It is safe to
// call more than once.
func (t *Temporal) Stop() {
	t.stopOnce.Do(func() {
		t.logLevel.Set(levelSilent)
		if t.ui != nil {
			t.ui.Stop()
			<-t.uiDone
		}
		if err := t.server.Stop(); err != nil {
			t.logger.Error("stop temporal server", slog.Any("error", err))
		}
	})
}

// prepareSQLite returns the persistence config for databaseFile ("" for an
// in-memory database), creating the schema when the file is new and the
// namespace when it is missing.
func prepareSQLite(databaseFile, namespace string, searchAttributes map[string]enums.IndexedValueType) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if databaseFile == "" {
		// The plugin creates the schema of an in-memory database itself. The
		// name only has to be unique within the process.
		conf.DatabaseName = uuid.NewString()
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		conf.DatabaseName = databaseFile
		// Write-ahead logging without an fsync per commit: a dev server may
		// lose its last transactions in a power cut, never its consistency,
		// and it writes several times faster.
		conf.ConnectAttributes = map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "1"}
		_, err := os.Stat(databaseFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(filepath.Dir(databaseFile), 0o755); err != nil {
				return nil, fmt.Errorf("create temporal database folder: %w", err)
			}
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("create temporal schema in %s: %w", databaseFile, err)
			}
		case err != nil:
			return nil, fmt.Errorf("temporal database file: %w", err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, searchAttributes)
	if err != nil {
		return nil, fmt.Errorf("temporal namespace %s: %w", namespace, err)
	}
	// A namespace that already exists is left as it is.
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("create temporal namespace %s: %w", namespace, err)
	}
	return conf, nil
}

// serverConfig returns the server config of a single-host cluster whose
// services listen on ip at the given gRPC ports, the frontend also serving
// its HTTP API on httpPort.
func serverConfig(ip string, sqlConf *config.SQL, ports map[primitives.ServiceName]int, httpPort int) *config.Config {
	frontendAddress := net.JoinHostPort(ip, strconv.Itoa(ports[primitives.FrontendService]))
	httpAddress := net.JoinHostPort(ip, strconv.Itoa(httpPort))
	conf := &config.Config{
		Persistence: config.Persistence{
			DefaultStore:     storeName,
			VisibilityStore:  storeName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{storeName: {SQL: sqlConf}},
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             frontendAddress,
					HTTPAddress:            httpAddress,
					ClusterID:              uuid.NewString(),
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            make(map[string]config.Service, len(ports)),
		PublicClient:        config.PublicClient{HostPort: frontendAddress, HTTPHostPort: httpAddress},
	}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = ip
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	for name, port := range ports {
		conf.Services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: ip}}
	}
	frontend := conf.Services[string(primitives.FrontendService)]
	frontend.RPC.HTTPPort = httpPort
	conf.Services[string(primitives.FrontendService)] = frontend
	return conf
}

// staticHosts places every service on this host, so no membership protocol runs.
func staticHosts(ip string, ports map[primitives.ServiceName]int) map[primitives.ServiceName]static.Hosts {
	hosts := make(map[primitives.ServiceName]static.Hosts, len(ports))
	for name, port := range ports {
		hosts[name] = static.SingleLocalHost(net.JoinHostPort(ip, strconv.Itoa(port)))
	}
	return hosts
}

// startUI serves the Web UI in the background until Stop.
func (t *Temporal) startUI(ip string, port int) {
	t.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                ip,
		Port:                port,
		TemporalGRPCAddress: t.address,
		EnableUI:            true,
		DefaultNamespace:    t.namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
	}))
	t.uiURL = "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	t.uiDone = make(chan struct{})
	go func() {
		defer close(t.uiDone)
		// Start blocks until Stop. It exits the process if it cannot bind,
		// which checkPortFree makes unlikely.
		if err := t.ui.Start(); err != nil {
			t.logger.Error("temporal web UI", slog.Any("error", err))
		}
	}()
}

// waitReady waits until the frontend serves the namespace and the UI
// answers. The client it uses logs to logger.
func (t *Temporal) waitReady(ctx context.Context, logger *slog.Logger) error {
	c, err := dialTemporal(ctx, client.Options{
		HostPort:  t.address,
		Namespace: t.namespace,
		Logger:    sdklog.NewStructuredLogger(logger),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := poll(ctx, func() error {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: t.namespace})
		return err
	}); err != nil {
		return fmt.Errorf("describe temporal namespace %s: %w", t.namespace, err)
	}
	if t.ui == nil {
		return nil
	}
	healthURL := t.uiURL + "/healthz"
	if err := poll(ctx, func() error { return getOK(ctx, healthURL) }); err != nil {
		return fmt.Errorf("temporal web UI at %s: %w", t.uiURL, err)
	}
	return nil
}

// dialTemporal dials the frontend until it answers or ctx ends.
func dialTemporal(ctx context.Context, opts client.Options) (client.Client, error) {
	var c client.Client
	err := poll(ctx, func() error {
		var err error
		c, err = client.DialContext(ctx, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s: %w", opts.HostPort, err)
	}
	return c, nil
}
