// Package apicall owns the plain JSON-over-HTTPS calls that the Paystack and Xendit adapters make,
// so both classify failures into *gateways.GatewayError the same way and neither leaks its
// credentials into an error.
package apicall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/tallyledger/tally/gateways"
)

// DefaultTimeout bounds a gateway call when the configuration gives no HTTP client.
const DefaultTimeout = 10 * time.Second

// maxResponse caps how much of a gateway's answer is read; real answers are a few KiB.
const maxResponse = 1 << 20

// NewHTTPClient returns c, or a client with DefaultTimeout when c is nil. A client without a
// timeout would let a hung gateway hold a deposit request open forever.
func NewHTTPClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// Client calls one gateway's JSON API.
type Client struct {
	Gateway   string
	BaseURL   string
	HTTP      *http.Client
	Authorize func(*http.Request) // sets the credentials header; nil: the caller's header carries them
	// Explain extracts the gateway's error code and message from a failed answer's body.
	Explain func(body []byte) (code, message string)
}

// Post sends body as JSON to BaseURL+path and decodes a 2xx answer into out.
// Every failure is a *gateways.GatewayError for op.
func (c *Client) Post(ctx context.Context, op, path string, header http.Header, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return &gateways.GatewayError{Gateway: c.Gateway, Op: op, Err: err}
	}
	return c.do(ctx, http.MethodPost, op, path, "application/json", header, payload, out)
}

// PostForm sends form as application/x-www-form-urlencoded (OAuth2 token requests) and decodes a
// 2xx answer into out. Every failure is a *gateways.GatewayError for op.
func (c *Client) PostForm(ctx context.Context, op, path string, header http.Header, form url.Values, out any) error {
	return c.do(ctx, http.MethodPost, op, path, "application/x-www-form-urlencoded", header, []byte(form.Encode()), out)
}

// Get reads BaseURL+path (with its query) and decodes a 2xx answer into out.
// Every failure is a *gateways.GatewayError for op.
func (c *Client) Get(ctx context.Context, op, path string, out any) error {
	return c.do(ctx, http.MethodGet, op, path, "", nil, nil, out)
}

func (c *Client) do(ctx context.Context, method, op, path, contentType string, header http.Header, payload []byte, out any) error {
	fail := func(status int, err error) *gateways.GatewayError {
		return &gateways.GatewayError{Gateway: c.Gateway, Op: op, StatusCode: status, Err: err}
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fail(0, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.Authorize != nil {
		c.Authorize(req)
	}

	resp, err := c.HTTP.Do(req)
	if err != nil {
		ge := fail(0, err)
		ge.Timeout = IsTimeout(err)
		return ge
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		ge := fail(resp.StatusCode, err)
		ge.Timeout = IsTimeout(err)
		return ge
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ge := fail(resp.StatusCode, nil)
		if c.Explain != nil {
			ge.Code, ge.Message = c.Explain(raw)
		}
		return ge
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fail(resp.StatusCode, fmt.Errorf("decoding the answer: %w", err))
	}
	return nil
}

// IsTimeout reports whether err is a deadline or network timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
