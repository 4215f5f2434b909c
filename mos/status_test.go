package mos

import "testing"

func TestMapStatus(t *testing.T) {
	tests := []struct {
		raw  string
		want State
	}{
		{"PENDING", StatePending}, {"NOTPAY", StatePending}, {"WAIT_PAY", StatePending},
		{"USERPAYING", StatePending}, {"PROCESSING", StatePending},
		{"SUCCESS", StatePaid}, {"PAID", StatePaid}, {"success", StatePaid}, {" Paid\t", StatePaid},
		{"FAILED", StateFailed}, {"PAYERROR", StateFailed}, {"FAIL", StateFailed},
		{"CLOSED", StateClosed}, {"EXPIRED", StateClosed}, {"CANCELLED", StateClosed}, {"REVOKED", StateClosed},
		{"REFUND", StateRefunded}, {"REFUNDED", StateRefunded}, {"refunded", StateRefunded},
		{"", StateUnknown}, {"CANCELED", StateUnknown}, {"SUCCESSFUL", StateUnknown}, {"PAID!", StateUnknown},
		{"ſuccess", StateUnknown}, // U+017F upper-cases to 'S' in Unicode; not a MOS spelling
		{"paıd", StateUnknown},    // U+0131 dotless i
		{"SUC CESS", StateUnknown},
	}
	for _, tt := range tests {
		if got := MapStatus(tt.raw); got != tt.want {
			t.Errorf("MapStatus(%q) = %s, want %s", tt.raw, got, tt.want)
		}
	}
}
