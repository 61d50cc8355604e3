package stream

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the hub's metrics, for a Prometheus registry:
// troupe_stream_subscribers (event subscriptions open: SSE streams,
// WebSocket subscriptions, console pages, streamed completions),
// troupe_stream_reads_total (reads of new events made for notices, one per
// notice whatever the number of subscribers),
// troupe_stream_cut_loose_total (subscribers that fell a buffer behind and
// caught up from the table) and troupe_stream_listens_total (times the
// LISTEN connection started listening: more than one is a reconnection).
func (h *Hub) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "troupe_stream_subscribers", Help: "Event subscriptions open in this process."},
			func() float64 { return float64(h.subscribers.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "troupe_stream_reads_total", Help: "Reads of new task events made for LISTEN notices."},
			func() float64 { return float64(h.reads.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "troupe_stream_cut_loose_total", Help: "Subscribers cut loose for falling a buffer behind, to catch up from the table."},
			func() float64 { return float64(h.cutLoose.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "troupe_stream_listens_total", Help: "Times the LISTEN connection started listening."},
			func() float64 { return float64(h.listens.Load()) }),
	}
}
