package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
)

// Orders is the order service as the handlers use it (order.Service implements it).
type Orders interface {
	Create(ctx context.Context, r order.CreateRequest) (*order.Order, bool, error)
	Get(ctx context.Context, userID, outTradeNo string) (*order.Order, error)
	Query(ctx context.Context, userID, outTradeNo, requestID string) (o *order.Order, asked bool, err error)
	ReconcileNow(ctx context.Context, outTradeNo, admin, requestID string) (*order.Order, error)
	List(ctx context.Context, f order.ListFilter) (order.Page, error)
	Story(ctx context.Context, outTradeNo string) (*order.Story, error)
	Report(ctx context.Context, f order.ListFilter) (*order.Report, error)
	Review(ctx context.Context, f order.ReviewFilter) (order.ReviewPage, error)
	ResolveFlag(ctx context.Context, outTradeNo string, flag order.Flag, outcome order.Outcome, note, admin, requestID string) (*order.Order, error)
	CloseStuck(ctx context.Context, outTradeNo, note, admin, requestID string) (*order.Order, error)
	Record(ctx context.Context, a order.AdminAction) error
	Audit(ctx context.Context, f order.AuditFilter) (order.AuditPage, error)
}

// Users are mospay's mini-app users as the handlers use them (order.Service implements it).
type Users interface {
	LoginWithCode(ctx context.Context, code, language string) (*order.User, error)
	User(ctx context.Context, id string) (*order.User, error)
	UsersByOpenID(ctx context.Context, openid string) ([]*order.User, error)
	RevokeUser(ctx context.Context, id, admin, requestID string) (*order.User, error)
}

// FinanceSessions are the finance pages' sessions as the admin API lists and ends them
// (order.Service implements it; the pages themselves are package ui's).
type FinanceSessions interface {
	OpenSessions(ctx context.Context, admin string) ([]order.FinanceSession, error)
	EndSession(ctx context.Context, id, admin, requestID string) error
}

// createBody is POST /mp/orders: items from the product list, or (where client-chosen amounts are
// allowed) totalAmount. Amounts are decimal text: a JSON number is refused, so that no client
// ever sends money through a float.
type createBody struct {
	TotalAmount string     `json:"totalAmount"`
	Items       []itemBody `json:"items"`
	Currency    string     `json:"currency"`
	Desc        string     `json:"desc"`
}

// itemBody is one line of POST /mp/orders's items.
type itemBody struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

// createOrder is POST /mp/orders: 201 with a new order, 200 with the order an earlier request
// under the same Idempotency-Key made.
func (s *Server) createOrder(c echo.Context) error {
	var b createBody
	if err := bindStrict(c, &b); err != nil {
		return err
	}
	u := userOf(c)
	var items []order.ItemRequest
	if b.Items != nil {
		items = make([]order.ItemRequest, len(b.Items))
		for i, it := range b.Items {
			items[i] = order.ItemRequest{ProductID: it.ProductID, Quantity: it.Quantity}
		}
	}
	o, created, err := s.deps.Orders.Create(c.Request().Context(), order.CreateRequest{
		UserID: u.ID, OpenID: u.OpenID, TotalAmount: b.TotalAmount, Items: items, Currency: b.Currency, Desc: b.Desc,
		IdempotencyKey: c.Request().Header.Get("Idempotency-Key"), RequestID: requestID(c),
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, orderView(o, false))
}

// getOrder is GET /mp/orders/{outTradeNo}: the caller's own order; anyone else's is 404.
func (s *Server) getOrder(c echo.Context) error {
	o, err := s.deps.Orders.Get(c.Request().Context(), userOf(c).ID, c.Param("outTradeNo"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orderView(o, false))
}

// listOrders is GET /mp/orders: the caller's orders, newest first.
func (s *Server) listOrders(c echo.Context) error {
	f, err := listFilter(c)
	if err != nil {
		return err
	}
	f.UserID = userOf(c).ID
	p, err := s.deps.Orders.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageView(p, false))
}

// queryOrder is POST /mp/orders/{outTradeNo}/query: what the front end calls after mos.pay
// resolves. It asks MOS now, but answers from the database when the user asked within the last
// order.QueryWindow.
func (s *Server) queryOrder(c echo.Context) error {
	o, asked, err := s.deps.Orders.Query(c.Request().Context(), userOf(c).ID, c.Param("outTradeNo"), requestID(c))
	if err != nil {
		return err
	}
	answer := "database"
	if asked {
		answer = "mos"
	}
	s.deps.Metrics.orderQueries.WithLabelValues(answer).Inc()
	return c.JSON(http.StatusOK, orderView(o, false))
}

// listFilter reads status, limit and cursor, common to the mini-app's and finance's lists.
func listFilter(c echo.Context) (order.ListFilter, error) {
	var f order.ListFilter
	if v := c.QueryParam("status"); v != "" {
		st, err := order.ParseStatus(v)
		if err != nil {
			return f, err
		}
		f.Status = st
	}
	var err error
	f.Limit, f.Cursor, err = pageParams(c)
	return f, err
}

// pageParams reads a list's limit and cursor.
func pageParams(c echo.Context) (limit int, cursor string, err error) {
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > order.MaxPageSize {
			return 0, "", order.Errorf(order.EINVALID, "limit: a whole number from 1 to %d", order.MaxPageSize)
		}
		limit = n
	}
	return limit, c.QueryParam("cursor"), nil
}
