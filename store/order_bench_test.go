package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// BenchmarkPaidSave measures the store's share of a paid notification on SQLite, durable: the
// versioned update with its transition, its order.paid event and a delivery per endpoint (0 or
// 2), from many goroutines at once as under load.
func BenchmarkPaidSave(b *testing.B) {
	for _, endpoints := range [][]string{nil, {"http://a.example/hook", "http://b.example/hook"}} {
		b.Run(fmt.Sprintf("endpoints=%d", len(endpoints)), func(b *testing.B) {
			ctx := context.Background()
			db := openMigrated(b, "sqlite:"+filepath.Join(b.TempDir(), "b.db"))
			orders := make([]*order.Order, b.N)
			for i := range orders {
				o := newOrder(i+1, fmt.Sprintf("u%d", i%64))
				if err := db.CreateOrder(ctx, o, order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0}); err != nil {
					b.Fatal(err)
				}
				orders[i] = o
			}
			payload := []byte(`{"type":"order.paid","data":{"order":{"outTradeNo":"` + strings.Repeat("x", 600) + `"}}}`)
			var n atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o := orders[n.Add(1)-1]
					paid := t0.Add(time.Minute)
					w := order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusPaid, Reason: "paid"},
						Observation: order.Observation{Kind: order.ObservedPaid, Source: order.SourceNotify, MOSStatus: "SUCCESS"}, At: paid,
						Events: []order.OutboxEvent{{ID: order.NewEventID(), Type: order.EventOrderPaid, OrderID: o.ID, OutTradeNo: o.OutTradeNo,
							OrderVersion: o.Version + 1, Payload: payload, At: paid, Endpoints: endpoints}}}
					if _, err := db.Save(ctx, w); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
