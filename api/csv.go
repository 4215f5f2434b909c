package api

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/mospay/mospay/order"
)

// OrderCSV encodes orders as finance's CSV export (GET /admin/orders.csv and the finance pages'
// /finance/orders.csv): one header row, then one row per order, times in one zone as
// spreadsheets read them, user text kept from being read as a formula. The handler that streams
// the export reads the orders; this says how each becomes a row.
type OrderCSV struct {
	w    *csv.Writer
	tz   *time.Location
	zone string
}

// NewOrderCSV starts an export to w: a UTF-8 byte order mark first when bom is set (so that
// spreadsheets read Khmer and other text right), then the header row. Times are written in tz.
func NewOrderCSV(w io.Writer, tz *time.Location, bom bool) *OrderCSV {
	if bom {
		_, _ = io.WriteString(w, "\uFEFF")
	}
	e := &OrderCSV{w: csv.NewWriter(w), tz: tz, zone: tz.String()}
	_ = e.w.Write(orderCSVHeader)
	return e
}

// orderCSVHeader is the export's one header row. Times are in the chosen zone (the zone column
// names it).
var orderCSVHeader = []string{"outTradeNo", "prepayId", "openid", "userId", "status", "currency", "totalAmount", "desc",
	"flags", "createdAt", "paidAt", "refundedAt", "expireAt", "updatedAt", "zone", "sandbox", "merchant", "reference", "metadata"}

// Encode writes one row per order, active flags with their notes, and sends them on to the
// writer, so that a long export streams page by page in flat memory.
func (e *OrderCSV) Encode(orders []*order.Order) error {
	for _, o := range orders {
		flags := make([]string, len(o.Flags))
		for i, fl := range o.Flags {
			flags[i] = string(fl)
			if note := o.FlagNotes[fl]; note != "" {
				flags[i] += ": " + note
			}
		}
		_ = e.w.Write([]string{o.OutTradeNo, o.PrepayID, cell(o.OpenID), o.UserID, string(o.Status), string(o.Amount.Currency),
			o.Amount.String(), cell(o.Desc), cell(strings.Join(flags, "; ")), e.time(&o.CreatedAt), e.time(o.PaidAt),
			e.time(o.RefundedAt), e.time(&o.ExpireAt), e.time(&o.UpdatedAt), e.zone, boolText(o.Sandbox),
			o.Merchant, cell(o.Reference), metadataCell(o.Metadata)})
	}
	e.w.Flush()
	return e.w.Error()
}

// CutShort ends an export that could not be finished with a line that says so: once the header
// is sent, that is the only way left to tell the reader the file is incomplete.
func (e *OrderCSV) CutShort(reason string) error {
	_ = e.w.Write([]string{"# export incomplete: " + reason})
	e.w.Flush()
	return e.w.Error()
}

// time is t in the export's zone as spreadsheets parse it: YYYY-MM-DD HH:MM:SS ("" for none).
func (e *OrderCSV) time(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(e.tz).Format(time.DateTime)
}

// cell keeps user text from being read as a formula when finance opens the CSV in a
// spreadsheet (CSV injection).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// metadataCell is an order's metadata in one CSV cell: its JSON object, keys sorted ("" for none).
func metadataCell(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}
