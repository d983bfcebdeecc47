// Package sandbox owns Tally's local fake gateway, for trying the whole deposit flow without a
// gateway account. Its checkout is a small HTML page served by Tally itself; pressing "Pay" or
// "Decline" makes the sandbox send a signed webhook to Tally's own webhook endpoint, which goes
// through the same verification, deduplication and matching as a real gateway's.
package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
)

// Name is the gateway's name in Tally's API and journal.
const Name = "sandbox"

// ErrNotFound is what a Lookup returns for a reference no deposit has.
var ErrNotFound = errors.New("no deposit with that reference")

// CheckoutInfo is what the checkout page needs to know about a deposit.
type CheckoutInfo struct {
	Reference        string
	GatewayReference string // as returned by OpenCheckout; derived from Reference when empty
	Amount           apd.Decimal
	Currency         string
	Account          string
	Status           string // "pending" is the only status that can be paid or declined
	CallbackURL      string // where the result page links back to; may be empty
}

// Config configures the sandbox (TALLY_SANDBOX=true).
type Config struct {
	// BaseURL is Tally's public URL, such as http://localhost:8080; checkout pages live under it.
	BaseURL string
	// Secret is the HMAC key webhooks are signed with. Any random bytes; it never leaves Tally.
	Secret []byte
	// WebhookURL is where signed webhooks are posted; default BaseURL + "/v1/webhooks/sandbox".
	WebhookURL string
	// HTTPClient delivers webhooks; default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Lookup finds a deposit by reference; it returns an error wrapping ErrNotFound for none.
	Lookup func(ctx context.Context, reference string) (CheckoutInfo, error)
	// Logger receives failures of webhooks sent in the background; default slog.Default().
	Logger *slog.Logger
	// WarnOnDeposit logs a warning for every checkout opened: the sandbox
	// credits wallets with money nobody paid, so outside local mode each
	// sandbox deposit should stand out in the logs.
	WarnOnDeposit bool
}

// Gateway is the sandbox gateway. It is safe for concurrent use. Close it to wait for the
// refund webhooks it is still sending.
type Gateway struct {
	baseURL    string
	secret     []byte
	webhookURL string
	client     *http.Client
	lookup     func(context.Context, string) (CheckoutInfo, error)
	log        *slog.Logger
	now        func() time.Time
	warn       bool

	mu      sync.Mutex
	closed  bool
	pending sync.WaitGroup
	payouts map[string]gateways.PayoutFound // by withdrawal id, in memory only
}

var _ gateways.Gateway = (*Gateway)(nil)

// New returns the sandbox, or an error wrapping gateways.ErrNotConfigured without a secret, a
// base URL or a lookup.
func New(cfg Config) (*Gateway, error) {
	if len(cfg.Secret) == 0 || cfg.BaseURL == "" || cfg.Lookup == nil {
		return nil, fmt.Errorf("%s: secret, base URL or lookup missing: %w", Name, gateways.ErrNotConfigured)
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	g := &Gateway{
		baseURL:    base,
		secret:     cfg.Secret,
		webhookURL: cfg.WebhookURL,
		client:     cfg.HTTPClient,
		lookup:     cfg.Lookup,
		log:        cfg.Logger,
		now:        time.Now,
		warn:       cfg.WarnOnDeposit,
	}
	if g.webhookURL == "" {
		g.webhookURL = base + "/v1/webhooks/sandbox"
	}
	if g.client == nil {
		g.client = &http.Client{Timeout: 10 * time.Second}
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	return g, nil
}

// EchoesRefundID implements gateways.RefundIDEchoer: every refund Tally asks
// for carries our refund id back in metadata.tally_refund.
func (g *Gateway) EchoesRefundID() bool { return true }

// Name returns "sandbox".
func (g *Gateway) Name() string { return Name }

// OpenCheckout returns the sandbox's own checkout page for the deposit. Nothing is stored: the
// page looks the deposit up when it is opened.
func (g *Gateway) OpenCheckout(_ context.Context, req gateways.CheckoutRequest) (gateways.Checkout, error) {
	if g.warn {
		g.log.Warn("sandbox deposit outside local mode: the sandbox credits wallets without real money",
			"gateway", Name, "reference", req.Reference)
	}
	return gateways.Checkout{
		URL:              g.baseURL + checkoutPath(req.Reference),
		GatewayReference: randomID("sbx_"),
	}, nil
}

// Refund accepts every refund at once and reports its success the way a gateway would: by a
// signed refund.succeeded webhook, sent in the background because the caller is usually still
// recording the refund when it asks. Close waits for these webhooks.
func (g *Gateway) Refund(_ context.Context, req gateways.RefundRequest) (gateways.RefundResult, error) {
	id := randomID("sbxre_")
	p := payload{
		ID:      randomID("sbxevt_"),
		Type:    typeRefundSucceeded,
		Created: g.now().Unix(),
		Data: payloadData{
			Reference:        req.DepositReference,
			GatewayReference: req.GatewayReference,
			RefundReference:  id,
			Amount:           gateways.FormatAmount(&req.Amount),
			Currency:         req.Currency,
			Metadata:         map[string]string{"tally_refund": req.RefundID},
		},
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return gateways.RefundResult{}, &gateways.GatewayError{Gateway: Name, Op: "refund", Message: "the sandbox is shut down"}
	}
	g.pending.Add(1)
	go func() {
		defer g.pending.Done()
		g.deliverWithRetry(p)
	}()
	return gateways.RefundResult{GatewayRefundID: id, Status: gateways.RefundStatusPending}, nil
}

// Close refuses further refunds and waits for the refund webhooks still being sent, so a
// shutdown does not lose them. The wait is bounded by three attempts of the HTTP client's timeout.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.pending.Wait()
	return nil
}

// deliverWithRetry sends a background webhook a few times, because a refund whose webhook is
// lost would stay pending forever.
func (g *Gateway) deliverWithRetry(p payload) {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		if err = g.deliver(context.Background(), p); err == nil {
			return
		}
	}
	g.log.Error("sandbox webhook not delivered", "type", p.Type, "reference", p.Data.Reference, "err", err)
}

// deliver signs p and posts it to the webhook URL; any answer but 2xx is an error.
func (g *Gateway) deliver(ctx context.Context, p payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.webhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(g.secret, body, g.now()))
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

func checkoutPath(reference string) string {
	return "/sandbox/checkout/" + url.PathEscape(reference)
}

// gatewayReference is the payment id the sandbox reports for a deposit whose lookup does not
// know the one OpenCheckout returned; it is derived from the reference so it is stable.
func gatewayReference(info CheckoutInfo) string {
	if info.GatewayReference != "" {
		return info.GatewayReference
	}
	sum := sha256.Sum256([]byte(info.Reference))
	return "sbx_" + hex.EncodeToString(sum[:12])
}

func randomID(prefix string) string {
	return prefix + strings.ToLower(rand.Text())
}
