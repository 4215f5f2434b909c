package e2e

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
)

// TestAlertRulesWatchServedMetrics: every mospay metric the alert rules (deploy/alerts.yml) use
// is one a running mospay serves, so a renamed metric cannot silence an alert; and after a
// checkout the operational gauges say what happened: MOS answered, the instance is ready, writes
// succeed, one flag waits for finance. (`make test` also checks the file with promtool.)
func TestAlertRulesWatchServedMetrics(t *testing.T) {
	rc := apptest.NewEventReceiver(t, nil)
	h := apptest.Start(t, apptest.Options{Config: apptest.WithEvents(nil, rc)})
	token := h.Login(t, "erin")
	h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "2.50", Currency: "USD", Desc: "Coffee"})
	h.FlaggedOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "Water"}, "0.10")
	rc.WaitFor(t, "an order event", func(evs []apptest.ReceivedEvent) bool { return len(evs) > 0 })

	// The delivery's attempt is counted just after the endpoint answered: scrape until it is.
	var served string
	apptest.Within(apptest.WaitFor, func() bool {
		r := h.Must(t, http.MethodGet, h.URL+"/metrics", nil, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("/metrics: HTTP %d", r.Status)
		}
		served = string(r.Body)
		return strings.Contains(served, `mospay_webhook_attempts_total{outcome="delivered"}`)
	})
	for _, want := range []string{
		`mospay_mos_calls_total{call="prepay",outcome="ok"}`,
		`mospay_mos_calls_total{call="orderQuery",outcome="ok"}`,
		"mospay_ready 1", "mospay_database_writes_failing 0", "mospay_flags_open 1",
	} {
		if !strings.Contains(served, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	rules, err := os.ReadFile("../deploy/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`mospay_[a-z_]+`).FindAllString(string(rules), -1)
	slices.Sort(used)
	used = slices.Compact(used)
	if len(used) < 5 {
		t.Fatalf("the rules use only %v", used)
	}
	for _, name := range used {
		if !strings.Contains(served, "\n# TYPE "+name+" ") {
			t.Errorf("deploy/alerts.yml uses %s, which /metrics does not serve", name)
		}
	}
}
