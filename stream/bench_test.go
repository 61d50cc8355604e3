package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/store"
)

// Benchmark sizes: subscribers spread over tasks, each task writing an event every
// benchWriteEvery, for benchDuration.
const (
	benchSubscribers = 1000
	benchTasks       = 10
	benchWriteEvery  = 100 * time.Millisecond
	benchDuration    = 10 * time.Second
	// benchPoll is the interval of the event stream before the hub.
	benchPoll = 250 * time.Millisecond
)

// BenchmarkSSESubscribers serves 1,000 SSE subscribers from one API process while tasks write
// events, with the hub (the product) and with the former stream, which polled the store every
// 250 ms per client (rebuilt here as the baseline). It reports the queries a
// second that read events for the streams (counted), the database's transactions a second
// (as Postgres counts them, the writers' included), the latency of events from commit
// to client (p50, p99), and the memory of a subscriber: of the hub's subscription alone, and of
// a whole SSE connection (server and client sides, both in this process).
//
//	go test -run '^$' -bench BenchmarkSSESubscribers -benchtime 1x ./stream/
func BenchmarkSSESubscribers(b *testing.B) {
	for _, mode := range []string{"poll", "hub"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				runSubscribers(b, mode)
			}
		})
	}
}

// runSubscribers runs the scenario once, the stream served as mode says.
func runSubscribers(b *testing.B, mode string) {
	tb := setup(b, defaultBuffer)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := &api.Server{Store: tb.store, Events: tb.hub, Logger: logger}
	var handler http.Handler = srv.Handler()
	var polls atomic.Int64
	if mode == "poll" {
		handler = pollingStream(tb.store, &polls)
	}
	// reads counts the queries that read events for the streams: three a poll (the task, the
	// check of its tenant, its new events), one a read of the hub.
	reads := func() int64 { return 3*polls.Load() + tb.hub.reads.Load() }
	web := httptest.NewServer(handler)
	defer web.Close()
	tasks := make([]uuid.UUID, benchTasks)
	for i := range tasks {
		tasks[i] = tb.task(b, api.DefaultTenant)
	}

	hubBytes := 0.0
	if mode == "hub" {
		hubBytes = heapPerItem(b, func(ctx context.Context, i int) {
			_, err := tb.hub.Subscribe(ctx, api.DefaultTenant, tasks[i%benchTasks], 1<<62)
			require.NoError(b, err)
		})
	}

	// Each subscriber notes when each event reaches it.
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	var mu sync.Mutex
	received := map[string][]time.Time{} // by "task seq"
	var clients sync.WaitGroup
	ready := make(chan struct{}, benchSubscribers)
	before := heapInUse()
	for i := range benchSubscribers {
		clients.Go(func() {
			readStream(ctx, web.URL, tasks[i%benchTasks], ready, func(key string, at time.Time) {
				mu.Lock()
				received[key] = append(received[key], at)
				mu.Unlock()
			})
		})
	}
	for range benchSubscribers {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			b.Fatal("subscribers not connected after a minute")
		}
	}
	// Past the first reads, whose counts Postgres may publish up to a second late.
	time.Sleep(2 * time.Second)
	connBytes := float64(heapInUse()-before) / benchSubscribers

	// Writers: every task an event every benchWriteEvery; the commit time of each is noted.
	committed := map[string]time.Time{}
	xacts := func() int64 {
		var n int64
		require.NoError(b, tb.pool.QueryRow(b.Context(), `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n))
		return n
	}
	// The transactions are counted over benchDuration in the steady state: the writers go
	// on a little longer.
	startReads, startXacts, start := reads(), xacts(), time.Now()
	var writers sync.WaitGroup
	for _, task := range tasks {
		writers.Go(func() {
			tick := time.NewTicker(benchWriteEvery)
			defer tick.Stop()
			for seq := 0; time.Since(start) < benchDuration+time.Second; seq++ {
				<-tick.C
				require.NoError(b, tb.store.AppendEvent(b.Context(), task, "note", strconv.Itoa(seq), map[string]int{"seq": seq}))
				at := time.Now()
				mu.Lock()
				committed[fmt.Sprint(task, " ", seq)] = at
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Until(start.Add(benchDuration)))
	endReads, endXacts, elapsed := reads(), xacts(), time.Since(start)
	writers.Wait()
	time.Sleep(time.Second) // the last events reach the clients
	cancel()
	clients.Wait()

	var latencies []time.Duration
	missing := 0
	for key, at := range committed {
		got := received[key]
		missing += benchSubscribers/benchTasks - len(got)
		for _, t := range got {
			latencies = append(latencies, max(t.Sub(at), 0))
		}
	}
	require.NotEmpty(b, latencies)
	slices.Sort(latencies)
	b.ReportMetric(float64(endXacts-startXacts-2)/elapsed.Seconds(), "db-xacts/s") // less the two counts
	b.ReportMetric(float64(len(committed))/(benchDuration+time.Second).Seconds(), "events/s")
	b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
	b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
	b.ReportMetric(connBytes, "B/sse-conn")
	b.ReportMetric(float64(endReads-startReads)/elapsed.Seconds(), "reads/s")
	if mode == "hub" {
		b.ReportMetric(hubBytes, "B/hub-sub")
	}
	b.ReportMetric(float64(missing), "missed")
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// heapInUse returns the bytes of heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// heapPerItem returns the heap taken by each of benchSubscribers calls of add, released after.
func heapPerItem(b *testing.B, add func(context.Context, int)) float64 {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	before := heapInUse()
	for i := range benchSubscribers {
		add(ctx, i)
	}
	time.Sleep(time.Second) // their first reads are done
	return float64(heapInUse()-before) / benchSubscribers
}

// readStream reads the SSE stream of task at base until ctx ends, signals ready once it
// answers, and calls got with "<task> <seq>" for each note event.
func readStream(ctx context.Context, base string, task uuid.UUID, ready chan<- struct{}, got func(string, time.Time)) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/tasks/"+task.String()+"/events/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ready <- struct{}{}
		return
	}
	defer resp.Body.Close()
	ready <- struct{}{}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data: ")
		if !ok {
			continue
		}
		var e struct {
			Kind    string `json:"kind"`
			Payload struct {
				Seq int `json:"seq"`
			} `json:"payload"`
		}
		if json.Unmarshal([]byte(data), &e) == nil && e.Kind == "note" {
			got(fmt.Sprint(task, " ", e.Payload.Seq), time.Now())
		}
	}
}

// pollingStream is the event stream as it was before the hub: each client reads the task and
// its new events every 250 ms. It counts its polls.
func pollingStream(st *store.Store, polls *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := uuid.MustParse(strings.Split(r.URL.Path, "/")[3])
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		flusher := w.(http.Flusher)
		flusher.Flush()
		var after int64
		for {
			polls.Add(1)
			t, err := st.GetTask(r.Context(), api.DefaultTenant, id)
			if err != nil {
				return
			}
			events, err := st.ListEvents(r.Context(), api.DefaultTenant, id, after, 500)
			if err != nil {
				return
			}
			for _, e := range events {
				data, _ := json.Marshal(map[string]any{"id": e.ID, "kind": e.Kind, "payload": e.Payload, "at": e.At})
				if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.ID, data); err != nil {
					return
				}
				after = e.ID
			}
			flusher.Flush()
			if t.Status.Terminal() && len(events) < 500 {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(benchPoll):
			}
		}
	})
}
