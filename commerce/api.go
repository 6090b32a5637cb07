package commerce

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
)

// The ingestion API, for shops without a webhook integration of their own (and for imports):
//
//	PUT /commerce/products/{sku}
//	PUT /commerce/carts/{cartId}
//	PUT /commerce/orders/{orderId}
//	PUT /commerce/customers/{shopCustomerId}/loyalty
//
// mounted on Serambi's API-key-authenticated /api/v1 group. Like the rest of Serambi's own API it
// refuses unknown fields (400), so that a typo shows at once instead of being silently dropped,
// and answers errors as {"error": {"code", "message", "requestId"}}. Each PUT is idempotent: the
// answer says "duplicate": true when the stored version was already this one or newer.

// maxAPIBody bounds one request body.
const maxAPIBody = 2 << 20

// RegisterAPI mounts the ingestion endpoints on g, which must authenticate API keys.
func (s *Service) RegisterAPI(g *echo.Group) {
	g.PUT("/commerce/products/:id", s.putProduct)
	g.PUT("/commerce/carts/:id", s.putCart)
	g.PUT("/commerce/orders/:id", s.putOrder)
	g.PUT("/commerce/customers/:id/loyalty", s.putLoyalty)
}

type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId,omitempty"`
	} `json:"error"`
}

// fail answers err in Serambi's error shape. Unexpected errors are logged and not described.
func (s *Service) fail(c echo.Context, status int, code, msg string) error {
	var body apiError
	body.Error.Code, body.Error.Message = code, msg
	body.Error.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	return c.JSON(status, body)
}

func (s *Service) failErr(c echo.Context, err error) error {
	var tooBig *http.MaxBytesError
	var rej *RejectedError
	switch {
	case errors.As(err, &tooBig):
		return s.fail(c, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.As(err, &rej):
		return s.fail(c, http.StatusUnprocessableEntity, "rejected", rej.Error())
	case errors.Is(err, ErrForbidden):
		return s.fail(c, http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, inbox.ErrNotFound):
		return s.fail(c, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, inbox.ErrConflict):
		return s.fail(c, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, inbox.ErrInvalid):
		return s.fail(c, http.StatusUnprocessableEntity, "invalid", err.Error())
	}
	s.log.ErrorContext(c.Request().Context(), "commerce request failed", "err", err, "route", c.Path(),
		"requestId", c.Response().Header().Get(echo.HeaderXRequestID))
	return s.fail(c, http.StatusInternalServerError, "internal", "internal error")
}

// readBody reads at most limit bytes of the request body.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
}

// badRequest is a request that is not JSON of the documented shape.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

// decodeStrict reads a JSON object refusing unknown fields, invalid UTF-8 and trailing data.
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return &badRequest{"request body is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &badRequest{describeJSONError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &badRequest{"request body has data after the JSON value"}
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "request body is empty; want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "request body is not valid JSON: it ends too early"
	case errors.As(err, &syn):
		return fmt.Sprintf("request body is not valid JSON (at byte %d): %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a JSON %s", typ.Field, typ.Type.Kind())
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ") + " (this API accepts only the documented fields)"
	}
	return "request body could not be read as JSON: " + err.Error()
}

// ingest runs one PUT: read, decode strictly, convert, store, answer.
func ingest[B any](s *Service, c echo.Context, convert func(key string, b B) (Result, error)) error {
	key, err := url.PathUnescape(c.Param("id"))
	if err != nil || key == "" {
		return s.fail(c, http.StatusBadRequest, "bad_request", "the id in the path is not valid")
	}
	raw, err := readBody(c, maxAPIBody)
	if err != nil {
		return s.failErr(c, err)
	}
	var b B
	if err := decodeStrict(raw, &b); err != nil {
		return s.fail(c, http.StatusBadRequest, "bad_request", err.Error())
	}
	res, err := convert(key, b)
	if err != nil {
		return s.failErr(c, err)
	}
	return c.JSON(http.StatusOK, res)
}

type apiContact struct {
	ShopCustomerID string `json:"shopCustomerId"`
	Email          string `json:"email"`
	Phone          string `json:"phone"`
	Name           string `json:"name"`
}

func (a apiContact) contact() Contact {
	return Contact{ShopCustomerID: a.ShopCustomerID, Email: a.Email, Phone: a.Phone, Name: a.Name}
}

type apiItem struct {
	LineItemID string `json:"lineItemId"`
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	ImageURL   string `json:"imageUrl"`
	Quantity   int64  `json:"quantity"`
	UnitPrice  int64  `json:"unitPrice"`
	Total      int64  `json:"total"`
}

func items(in []apiItem) []LineItem {
	out := make([]LineItem, 0, len(in))
	for _, it := range in {
		out = append(out, LineItem{ID: it.LineItemID, SKU: it.SKU, Name: it.Name, ImageURL: it.ImageURL,
			Quantity: it.Quantity, UnitPrice: it.UnitPrice, Total: it.Total})
	}
	return out
}

// apiProduct is the body of PUT /commerce/products/{sku}. Money is in minor units.
type apiProduct struct {
	Name     string       `json:"name"`
	ImageURL string       `json:"imageUrl"`
	URL      string       `json:"url"`
	Price    *int64       `json:"price"`
	Currency string       `json:"currency"`
	Tracked  *bool        `json:"tracked"`
	Stock    []StockLevel `json:"stock"`
	SoldOut  bool         `json:"soldOut"`
	// UpdatedAt is the shop's last-modified time of the product: required, it orders versions.
	UpdatedAt time.Time `json:"updatedAt"`
}

func (s *Service) putProduct(c echo.Context) error {
	return ingest(s, c, func(sku string, b apiProduct) (Result, error) {
		if b.Price == nil {
			return Result{}, invalid("price is required (minor units of currency)")
		}
		tracked := len(b.Stock) > 0
		if b.Tracked != nil {
			tracked = *b.Tracked
		}
		return s.PutProduct(c.Request().Context(), Product{SKU: sku, Name: b.Name, ImageURL: b.ImageURL, URL: b.URL,
			Price: *b.Price, Currency: b.Currency, Tracked: tracked, Stock: b.Stock, SoldOut: b.SoldOut,
			Source: SourceAPI, ShopUpdatedAt: b.UpdatedAt})
	})
}

// apiCart is the body of PUT /commerce/carts/{cartId}.
type apiCart struct {
	Customer  apiContact `json:"customer"`
	Currency  string     `json:"currency"`
	Items     []apiItem  `json:"items"`
	Total     int64      `json:"total"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

func (s *Service) putCart(c echo.Context) error {
	return ingest(s, c, func(id string, b apiCart) (Result, error) {
		return s.PutCart(c.Request().Context(), Cart{ID: id, Contact: b.Customer.contact(), Currency: b.Currency,
			Items: items(b.Items), Total: b.Total, Source: SourceAPI, ShopCreatedAt: b.CreatedAt, ShopUpdatedAt: b.UpdatedAt})
	})
}

// apiOrder is the body of PUT /commerce/orders/{orderId}.
type apiOrder struct {
	Number            string            `json:"number"`
	Customer          apiContact        `json:"customer"`
	CartID            string            `json:"cartId"`
	Currency          string            `json:"currency"`
	Items             []apiItem         `json:"items"`
	Subtotal          int64             `json:"subtotal"`
	Shipping          int64             `json:"shipping"`
	Tax               int64             `json:"tax"`
	Discount          int64             `json:"discount"`
	Total             *int64            `json:"total"`
	Refunded          int64             `json:"refunded"`
	PaymentStatus     PaymentStatus     `json:"paymentStatus"`
	FulfillmentStatus FulfillmentStatus `json:"fulfillmentStatus"`
	Cancelled         bool              `json:"cancelled"`
	CancelledAt       time.Time         `json:"cancelledAt"`
	CancelReason      string            `json:"cancelReason"`
	Pickup            bool              `json:"pickup"`
	Tracking          []Tracking        `json:"tracking"`
	AdminURL          string            `json:"adminUrl"`
	PlacedAt          time.Time         `json:"placedAt"`
	UpdatedAt         time.Time         `json:"updatedAt"`
}

func (s *Service) putOrder(c echo.Context) error {
	return ingest(s, c, func(id string, b apiOrder) (Result, error) {
		if b.Total == nil {
			return Result{}, invalid("total is required (minor units of currency)")
		}
		return s.PutOrder(c.Request().Context(), Order{ID: id, Number: b.Number, Contact: b.Customer.contact(), CartID: b.CartID,
			Currency: b.Currency, Items: items(b.Items), Subtotal: b.Subtotal, Shipping: b.Shipping, Tax: b.Tax,
			Discount: b.Discount, Total: *b.Total, Refunded: b.Refunded, Payment: b.PaymentStatus, Fulfillment: b.FulfillmentStatus,
			Cancelled: b.Cancelled, CancelledAt: b.CancelledAt, CancelReason: b.CancelReason, Pickup: b.Pickup,
			Tracking: b.Tracking, AdminURL: b.AdminURL, Source: SourceAPI, PlacedAt: b.PlacedAt, ShopUpdatedAt: b.UpdatedAt})
	})
}

// apiLoyalty is the body of PUT /commerce/customers/{shopCustomerId}/loyalty.
type apiLoyalty struct {
	Points    int64     `json:"points"`
	Tier      string    `json:"tier"`
	Email     string    `json:"email"`
	Phone     string    `json:"phone"`
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (s *Service) putLoyalty(c echo.Context) error {
	return ingest(s, c, func(id string, b apiLoyalty) (Result, error) {
		return s.PutLoyalty(c.Request().Context(), Loyalty{ShopCustomerID: id, Points: b.Points, Tier: b.Tier,
			Contact: Contact{ShopCustomerID: id, Email: b.Email, Phone: b.Phone, Name: b.Name}, ShopUpdatedAt: b.UpdatedAt})
	})
}
