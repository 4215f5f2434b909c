package api_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// TestOrderCSV: the export's bytes, exactly: the byte order mark (or not), the header, a row per
// order with times in the chosen zone, flags with their notes, metadata as sorted JSON, text
// that a spreadsheet would run as a formula quoted, and the line of an export cut short.
func TestOrderCSV(t *testing.T) {
	pp, err := time.LoadLocation("Asia/Phnom_Penh")
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 30, 17, 5, 9, 0, time.UTC)
	paid := created.Add(90 * time.Second)
	orders := []*order.Order{
		{OutTradeNo: "o1", PrepayID: "p1", OpenID: "alice", UserID: "u1", Status: order.StatusPaid,
			Amount: money.Amount{Minor: 1699, Currency: money.USD}, Desc: "=1+1", CreatedAt: created, PaidAt: &paid,
			ExpireAt: created.Add(30 * time.Minute), UpdatedAt: paid, Sandbox: true, Merchant: "shop", Reference: "@ref",
			Metadata: map[string]string{"b": "2", "a": "x,\"y\""},
			Flags:    []order.Flag{order.FlagLatePayment, order.FlagMOSDisagrees}, FlagNotes: map[order.Flag]string{order.FlagLatePayment: "paid after expiry"}},
		{OutTradeNo: "o2", UserID: "u2", Status: order.StatusCreated, Amount: money.Amount{Minor: 40000, Currency: money.KHR},
			Desc: "កាហ្វេ", CreatedAt: created, ExpireAt: created.Add(time.Hour), UpdatedAt: created},
	}
	const header = "outTradeNo,prepayId,openid,userId,status,currency,totalAmount,desc,flags,createdAt,paidAt,refundedAt,expireAt,updatedAt,zone,sandbox,merchant,reference,metadata\n"
	const rows = "o1,p1,alice,u1,PAID,USD,16.99,'=1+1,late_payment: paid after expiry; mos_disagrees,2026-12-01 00:05:09,2026-12-01 00:06:39,,2026-12-01 00:35:09,2026-12-01 00:06:39,Asia/Phnom_Penh,true,shop,'@ref,\"{\"\"a\"\":\"\"x,\\\"\"y\\\"\"\"\",\"\"b\"\":\"\"2\"\"}\"\n" +
		"o2,,,u2,CREATED,KHR,40000,កាហ្វេ,,2026-12-01 00:05:09,,,2026-12-01 01:05:09,2026-12-01 00:05:09,Asia/Phnom_Penh,false,,,\n"
	tests := []struct {
		name string
		bom  bool
		cut  string
		want string
	}{
		{"with a byte order mark", true, "", "\uFEFF" + header + rows},
		{"without one", false, "", header + rows},
		{"cut short", false, "MOS is unavailable", header + rows + "# export incomplete: MOS is unavailable\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			enc := api.NewOrderCSV(&b, pp, tt.bom)
			if err := enc.Encode(orders[:1]); err != nil {
				t.Fatal(err)
			}
			if err := enc.Encode(orders[1:]); err != nil { // a second page
				t.Fatal(err)
			}
			if tt.cut != "" {
				if err := enc.CutShort(tt.cut); err != nil {
					t.Fatal(err)
				}
			}
			if b.String() != tt.want {
				t.Errorf("CSV:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}
