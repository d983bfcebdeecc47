package sinks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// URLRules are the rules a webhook URL must follow, so that a subscription
// cannot make Tally call into its own network (SSRF).
type URLRules struct {
	// AllowHTTP allows plain http:// URLs (local mode); otherwise https only.
	AllowHTTP bool
	// AllowPrivate allows loopback, link-local and private addresses
	// (TALLY_WEBHOOK_ALLOW_PRIVATE; local mode sets it).
	AllowPrivate bool
}

// Check validates a URL when a subscription is created. A host name is
// resolved only when Tally dials it (see Client): DNS may answer
// differently later, so the address is checked on every connection.
func (r URLRules) Check(raw string) error {
	bad := func(format string, args ...any) error {
		return ledger.Errorf(ledger.EInvalidRequest, format, args...).WithField("url")
	}
	if len(raw) > 2048 {
		return bad("url may be at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return bad("url must be an absolute URL such as https://example.com/hooks/tally")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && r.AllowHTTP:
	default:
		return bad("url must use https")
	}
	if u.User != nil {
		return bad("url may not carry a user name or password; authenticate deliveries by their signature")
	}
	if u.Fragment != "" {
		return bad("url may not have a #fragment")
	}
	host := u.Hostname()
	if r.AllowPrivate {
		return nil
	}
	if h := strings.TrimSuffix(strings.ToLower(host), "."); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return bad("url may not point to this machine (set TALLY_WEBHOOK_ALLOW_PRIVATE=true to allow private addresses)")
	}
	if ip, err := netip.ParseAddr(host); err == nil && !r.allowed(ip) {
		return bad("url may not point to a loopback, link-local or private address (set TALLY_WEBHOOK_ALLOW_PRIVATE=true to allow them)")
	}
	return nil
}

// allowed reports whether Tally may connect to ip.
func (r URLRules) allowed(ip netip.Addr) bool {
	if r.AllowPrivate {
		return true
	}
	ip = ip.Unmap()
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!sharedAddressSpace.Contains(ip)
}

// sharedAddressSpace is carrier-grade NAT (RFC 6598), private in practice.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// errAddressNotAllowed is a dial refused by the URL rules.
var errAddressNotAllowed = errors.New("the webhook URL resolves to an address that is not allowed (loopback, link-local or private)")

// Client returns the HTTP client deliveries go through: it checks every
// address it connects to against the rules (after DNS resolution, so a
// name that resolves to 127.0.0.1 is refused), ignores proxy settings,
// never follows redirects and gives up after timeout.
func (r URLRules) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", errAddressNotAllowed, address)
			}
			if !r.allowed(ap.Addr()) {
				return fmt.Errorf("%w: %s", errAddressNotAllowed, ap.Addr())
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
