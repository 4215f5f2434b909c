package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mospay/mospay/order"
)

// BenchmarkCreateThenSave measures the store's share of creating an order on SQLite, durable
// (synchronous=FULL): insert it with its first transition, then record the prepay (update plus
// transition), from many goroutines at once, as the API does under load. The writer connection
// is the bottleneck; compare runs with benchstat.
func BenchmarkCreateThenSave(b *testing.B) {
	ctx := context.Background()
	db := openMigrated(b, "sqlite:"+filepath.Join(b.TempDir(), "b.db"))
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			o := newOrder(i, fmt.Sprintf("u%d", i%64))
			if err := db.CreateOrder(ctx, o, order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0}); err != nil {
				b.Error(err)
				return
			}
			next := t0.Add(15 * time.Second)
			_, err := db.Save(ctx, order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusPending, PrepayID: "pp"},
				Observation: order.Observation{Kind: order.ObservedPrepaid, Source: order.SourceAPI}, Reschedule: true, NextCheckAt: &next, ReleaseLease: true, At: t0})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOutboxCycle measures the whole of the outbox's work per paid event on SQLite, as the
// deliverer does it under load: the payment's write with its event and deliveries, then each
// endpoint's claims and recorded first attempts (all delivered), until every delivery is
// recorded. Besides ns/op (wall time, which waits on the disk) it reports cpu-µs/op, the
// process's CPU per event: the two endpoints' figure less the one without them is what events
// cost the one writer and its readers, which throughput on a shared machine is too noisy to show.
func BenchmarkOutboxCycle(b *testing.B) {
	withAndWithoutEndpoints(b, func(b *testing.B, endpoints []string) {
		ctx := context.Background()
		db, orders := createdOrders(b, b.N)
		var n atomic.Int64
		b.SetParallelism(32)
		cpu0 := processCPU()
		b.ResetTimer()
		var wg sync.WaitGroup
		for _, ep := range endpoints {
			wg.Go(func() {
				now := t0.Add(time.Hour)
				for done := 0; done < b.N; {
					ds, err := db.ClaimDeliveries(ctx, ep, now, 128, "bench", now.Add(time.Minute))
					if err != nil {
						b.Error(err)
						return
					}
					if len(ds) == 0 {
						time.Sleep(time.Millisecond)
						continue
					}
					rs := make([]order.DeliveryResult, len(ds))
					for i, d := range ds {
						rs[i] = order.DeliveryResult{Delivery: d, Attempt: order.Attempt{At: now, StatusCode: 204, LatencyMS: 1},
							Status: order.DeliveryDelivered, Owner: "bench"}
					}
					if err := db.RecordAttempts(ctx, rs); err != nil {
						b.Error(err)
						return
					}
					done += len(ds)
				}
			})
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.Save(ctx, paidWrite(orders[n.Add(1)-1], endpoints)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		wg.Wait()
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	})
}

// createdOrders opens a fresh SQLite file and creates n orders in it, spread over 64 users.
func createdOrders(b *testing.B, n int) (*DB, []*order.Order) {
	db := openMigrated(b, "sqlite:"+filepath.Join(b.TempDir(), "b.db"))
	orders := make([]*order.Order, n)
	for i := range orders {
		o := newOrder(i+1, fmt.Sprintf("u%d", i%64))
		if err := db.CreateOrder(context.Background(), o, order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0}); err != nil {
			b.Fatal(err)
		}
		orders[i] = o
	}
	return db, orders
}

// paidPayload is an order.paid event's body of about the size package api renders.
var paidPayload = []byte(`{"type":"order.paid","data":{"order":{"outTradeNo":"` + strings.Repeat("x", 600) + `"}}}`)

// paidWrite is a notification's write of o as PAID, with its order.paid event to endpoints.
func paidWrite(o *order.Order, endpoints []string) order.Write {
	paid := t0.Add(time.Minute)
	return order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusPaid, Reason: "paid"},
		Observation: order.Observation{Kind: order.ObservedPaid, Source: order.SourceNotify, MOSStatus: "SUCCESS"}, At: paid,
		Events: []order.OutboxEvent{{ID: order.NewEventID(), Type: order.EventOrderPaid, OrderID: o.ID, OutTradeNo: o.OutTradeNo,
			OrderVersion: o.Version + 1, Payload: paidPayload, At: paid, Endpoints: endpoints}}}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPaidSave measures the store's share of a paid notification on SQLite, durable: the
// versioned update with its transition, its order.paid event and a delivery per endpoint (0 or
// 2), from many goroutines at once as under load.
func BenchmarkPaidSave(b *testing.B) {
	withAndWithoutEndpoints(b, func(b *testing.B, endpoints []string) {
		ctx := context.Background()
		db, orders := createdOrders(b, b.N)
		var n atomic.Int64
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.Save(ctx, paidWrite(orders[n.Add(1)-1], endpoints)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// withAndWithoutEndpoints runs bench as two sub-benchmarks: without event endpoints, and with two.
func withAndWithoutEndpoints(b *testing.B, bench func(b *testing.B, endpoints []string)) {
	for _, endpoints := range [][]string{nil, {"http://a.example/hook", "http://b.example/hook"}} {
		b.Run(fmt.Sprintf("endpoints=%d", len(endpoints)), func(b *testing.B) { bench(b, endpoints) })
	}
}
