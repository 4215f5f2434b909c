package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// mospayTimed is timed for one of mospay's scenarios: with -profile it also has serve's pprof
// listener take a CPU profile over the middle half of the scenario (at least a second), into
// DIR/<slug>.turn<N>.prof; keepMedianProfiles keeps the median turn's as DIR/<slug>.prof.
func (s *suite) mospayTimed(ctx context.Context, name string, tr vegeta.Targeter, onResult func(*vegeta.Result)) turn {
	if s.debug == "" {
		return turn{stats: s.timed(ctx, name, tr, onResult)}
	}
	secs := max(1, int(s.opts.duration.Round(time.Second)/time.Second/2))
	wait := max((s.opts.duration-time.Duration(secs)*time.Second)/2, 0)
	path := filepath.Join(s.opts.profile, fmt.Sprintf("%s.turn%d.prof", slug(name), s.turn))
	done := make(chan error, 1)
	go func() { done <- s.fetchProfile(ctx, wait, secs, path) }()
	t := turn{stats: s.timed(ctx, name, tr, onResult)}
	// On a short scenario the profile may end a moment after the load; wait for it, so that the
	// next scenario is not profiled into this one's file.
	if err := <-done; err != nil {
		s.log.Warn("no CPU profile", "scenario", name, "err", err)
	} else {
		t.profile = path
	}
	return t
}

// fetchProfile waits, then asks serve for a CPU profile of secs seconds and writes it to path.
func (s *suite) fetchProfile(ctx context.Context, wait time.Duration, secs int, path string) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.debug, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// keepMedianProfiles renames, for each row, the profile of the turn the table shows to
// dir/<slug>.prof and removes the other turns' profiles.
func keepMedianProfiles(rep *report, dir string, log *slog.Logger) {
	if dir == "" {
		return
	}
	for _, x := range rep.rows {
		keep := x.median().profile
		for _, t := range x.turns {
			if t.profile != "" && t.profile != keep {
				_ = os.Remove(t.profile)
			}
		}
		if keep == "" {
			continue
		}
		dst := filepath.Join(dir, slug(x.name)+".prof")
		if err := os.Rename(keep, dst); err != nil {
			log.Warn("CPU profile not kept", "scenario", x.name, "err", err)
			continue
		}
		log.Info("CPU profile", "scenario", x.name, "file", dst)
	}
}

// slug is a row name as a file name: lower-case letters and digits, the rest one dash.
// "GET /mp/orders/{outTradeNo} (SQLite)" becomes "get-mp-orders-outtradeno-sqlite".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}
