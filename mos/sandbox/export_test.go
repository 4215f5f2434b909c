package sandbox

// What the external tests (package sandbox_test, which may import app/apptest) reach inside the
// sandbox for.

// Order statuses as MOS spells them.
const (
	StatusPending = statusPending
	StatusSuccess = statusSuccess
)

// KeepOrder puts an order of 1.00 USD in status into s's memory and state journal, as a prepay
// or a control call would (without writing the file: that is the save loop's and Close's job).
func (s *Server) KeepOrder(outTradeNo, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		o = &order{outTradeNo: outTradeNo, prepayID: "pp-" + outTradeNo, currency: "USD", amount: "1.00", request: map[string]string{"outTradeNo": outTradeNo}}
		s.orders[outTradeNo] = o
	}
	o.status = status
	s.keepLocked(o)
}

// LoginCodes counts the login codes s has issued and still holds.
func (s *Server) LoginCodes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.codes)
}

// The JSON answers of GET /sandbox/config and of the payment sheet's calls.
type (
	BrowserConfig = browserConfig
	SheetView     = sheetView
)
