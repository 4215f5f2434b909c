package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mospay/mospay/money"
)

// The sandbox's orders outlive a restart when Config.StateFile is set, so that an order created
// before `make run` was restarted can still be paid after it. The file is a journal: one JSON
// line per change of an order (the whole order, the last line of an order wins). A change is
// appended to a buffer in memory on the request path and written to the file by a background
// flush every SaveEvery: no disk write per prepay. At start the journal is read and rewritten
// with one line per order. Login codes, faults and counters of calls are not kept: they are
// short-lived or per run. `mospay sandbox reset` deletes the file.

// DefaultSaveEvery is how often the journal buffer is written to the state file.
const DefaultSaveEvery = time.Second

// savedOrder is an order as the journal keeps it.
type savedOrder struct {
	OutTradeNo     string            `json:"outTradeNo"`
	PrepayID       string            `json:"prepayId"`
	OpenID         string            `json:"openid"`
	MchID          string            `json:"mchId"`
	Currency       string            `json:"currency"`
	Amount         string            `json:"amount"`
	Desc           string            `json:"desc"`
	NotifyURL      string            `json:"notifyUrl"`
	ExpireTime     int64             `json:"expireTime"`
	CreateTime     int64             `json:"createTime"`
	Status         string            `json:"status"`
	ReportedAmount string            `json:"reportedAmount,omitempty"`
	Request        map[string]string `json:"request"`
	PrepayCalls    int               `json:"prepayCalls"`
	Notifications  int               `json:"notifications"`
}

func saveOrder(o *order) savedOrder {
	return savedOrder{OutTradeNo: o.outTradeNo, PrepayID: o.prepayID, OpenID: o.openid, MchID: o.mchID,
		Currency: string(o.currency), Amount: o.amount, Desc: o.desc, NotifyURL: o.notifyURL,
		ExpireTime: o.expireTime, CreateTime: o.createTime, Status: o.status, ReportedAmount: o.reportedAmount,
		Request: o.request, PrepayCalls: o.prepayCalls, Notifications: o.notifications}
}

func (v savedOrder) order() *order {
	return &order{outTradeNo: v.OutTradeNo, prepayID: v.PrepayID, openid: v.OpenID, mchID: v.MchID,
		currency: money.Currency(v.Currency), amount: v.Amount, desc: v.Desc, notifyURL: v.NotifyURL,
		expireTime: v.ExpireTime, createTime: v.CreateTime, status: v.Status, reportedAmount: v.ReportedAmount,
		request: v.Request, prepayCalls: v.PrepayCalls, notifications: v.Notifications}
}

// journal is the state file being appended to, and the changes not yet written.
type journal struct {
	file    *os.File
	pending bytes.Buffer
}

// keepLocked records o's current state for the next flush. s.mu is held.
func (s *Server) keepLocked(o *order) {
	if s.journal == nil {
		return
	}
	b, err := json.Marshal(saveOrder(o))
	if err != nil { // a struct of strings, ints and a string map: cannot fail
		panic(err)
	}
	s.journal.pending.Write(b)
	s.journal.pending.WriteByte('\n')
}

// restore reads the state file into s.orders, rewrites it with one line per order, and keeps it
// open for appending. A missing file is an empty sandbox.
func (s *Server) restore(path string) error {
	orders, err := readJournal(path)
	if err != nil {
		return err
	}
	s.orders = orders
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, o := range orders {
		if err := enc.Encode(saveOrder(o)); err != nil {
			f.Close()
			return err
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	f, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	s.journal = &journal{file: f}
	return nil
}

// readJournal replays a state file: the last line of each order wins. A torn last line (a crash
// in the middle of a write) is skipped.
func readJournal(path string) (map[string]*order, error) {
	orders := make(map[string]*order)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return orders, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var v savedOrder
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil || v.OutTradeNo == "" {
			continue
		}
		orders[v.OutTradeNo] = v.order()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sandbox state %s: %w", path, err)
	}
	return orders, nil
}

// flush writes the changes recorded since the last flush to the state file.
func (s *Server) flush() {
	s.mu.Lock()
	j := s.journal
	if j == nil || j.pending.Len() == 0 {
		s.mu.Unlock()
		return
	}
	b := bytes.Clone(j.pending.Bytes())
	j.pending.Reset()
	s.mu.Unlock()
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if _, err := j.file.Write(b); err != nil {
		s.log.Error("sandbox state not saved", slog.String("err", err.Error()))
	}
}

// saveLoop flushes every SaveEvery until the sandbox closes.
func (s *Server) saveLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.flush()
		}
	}
}

// RemoveState deletes a sandbox's state file (`mospay sandbox reset`): the next start begins
// with no orders. A missing file is not an error.
func RemoveState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
