package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// stats is one scenario's outcome.
type stats struct {
	Requests int           // answered or failed requests
	OK       int           // 2xx answers
	Errors   int           // non-2xx answers and transport errors
	Elapsed  time.Duration // from the first request to the last answer
	P50, P99 time.Duration // latency quantiles over every request
	// FirstError is one error seen, to make a failing scenario explain itself.
	FirstError string
	// CPU is what the machine, and mospay, spent during the scenario (cpu.go).
	CPU cpuUse
}

// Throughput is 2xx answers per second.
func (s stats) Throughput() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.OK) / s.Elapsed.Seconds()
}

// attacker sends load with a fixed number of workers, each with one request in flight: a closed
// loop at the highest rate the server sustains (vegeta.Rate{Freq: 0}).
type attacker struct {
	concurrency int
}

// attack runs tr for du (0: until tr returns vegeta.ErrNoTargets) or until ctx ends. onResult,
// when not nil, is called with every request's result, in arrival order, on the caller's goroutine.
func (a attacker) attack(ctx context.Context, name string, tr vegeta.Targeter, du time.Duration, onResult func(*vegeta.Result)) stats {
	n := uint64(a.concurrency)
	atk := vegeta.NewAttacker(
		vegeta.Workers(n), vegeta.MaxWorkers(n),
		vegeta.Connections(a.concurrency), vegeta.MaxConnections(a.concurrency),
		vegeta.KeepAlive(true), vegeta.Timeout(30*time.Second),
	)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		select {
		case <-ctx.Done():
			atk.Stop()
		case <-stopWatch:
		}
	}()

	var m vegeta.Metrics
	var s stats
	start := time.Now()
	var last time.Time
	for r := range atk.Attack(tr, vegeta.Rate{Freq: 0}, du, name) {
		if r.Error == vegeta.ErrNoTargets.Error() {
			continue // the targeter ran dry: not a request
		}
		m.Add(r)
		s.Requests++
		if r.Error == "" && r.Code >= 200 && r.Code < 300 {
			s.OK++
		} else {
			s.Errors++
			if s.FirstError == "" {
				s.FirstError = r.Error
				if len(r.Body) > 0 {
					s.FirstError += ": " + truncate(string(r.Body), 200)
				}
			}
		}
		if end := r.Timestamp.Add(r.Latency); end.After(last) {
			last = end
		}
		if onResult != nil {
			onResult(r)
		}
	}
	m.Close()
	if !last.IsZero() {
		s.Elapsed = last.Sub(start)
	}
	s.P50 = m.Latencies.P50
	s.P99 = m.Latencies.P99
	return s
}

// countedTargeter gives next(i) for i = 0, 1, ... n-1, then vegeta.ErrNoTargets; n < 0 means
// without end. next must be safe for concurrent use.
func countedTargeter(n int, next func(i int, t *vegeta.Target)) vegeta.Targeter {
	var mu sync.Mutex
	i := 0
	return func(t *vegeta.Target) error {
		mu.Lock()
		k := i
		if n >= 0 && k >= n {
			mu.Unlock()
			return vegeta.ErrNoTargets
		}
		i++
		mu.Unlock()
		next(k, t)
		return nil
	}
}

// jsonHeader is the header of a JSON request, with a bearer token when token is not empty.
func jsonHeader(token string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
