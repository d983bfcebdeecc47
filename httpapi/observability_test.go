package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tallyledger/tally/ledger"
)

// scrape reads /metrics as Prometheus would.
func (h *harness) scrape() map[string]*dto.MetricFamily {
	h.t.Helper()
	r := h.must(h.do("GET", "/metrics", nil, "Authorization", ""), 200)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		h.t.Fatalf("/metrics: %v", err)
	}
	return families
}

// metricValue finds the sample of family whose labels include want: a
// counter's or gauge's value, a histogram's count.
func metricValue(families map[string]*dto.MetricFamily, family string, want map[string]string) (float64, bool) {
	f := families[family]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsAreExposedAndCount(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("u1", "NGN"), h.open("u2", "NGN")
	h.fund(a, "10", "NGN")
	for i := range 3 {
		h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "1", "currency": "NGN"}, "Idempotency-Key", ledger.NewID("m")+string(rune('a'+i))), 201)
	}
	h.must(h.do("GET", "/v1/accounts/acc_01J00000000000000000000000", nil), 404)
	h.must(h.do("GET", "/v1/no/such/route/acc_01J00000000000000000000000", nil), 404)
	h.api.metrics.WebhookEvent("paystack", WebhookCredited)
	h.api.metrics.WebhookEvent("paystack", WebhookCredited)
	h.api.metrics.WebhookEvent("stripe", WebhookInvalidSignature)
	h.api.metrics.SetProjectionLag("reports", 7)

	m := h.scrape()
	cases := []struct {
		name   string
		family string
		labels map[string]string
		check  func(float64) bool
	}{
		{"requests are counted by route pattern and status", "http_requests_total", map[string]string{"route": "/v1/transfers", "method": "POST", "status": "201"}, func(v float64) bool { return v == 3 }},
		{"a 404 on a real route keeps its pattern", "http_requests_total", map[string]string{"route": "/v1/accounts/:id", "method": "GET", "status": "404"}, func(v float64) bool { return v == 1 }},
		{"paths of no route share one label", "http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, func(v float64) bool { return v == 1 }},
		{"request durations are observed", "http_request_duration_seconds", map[string]string{"route": "/v1/transfers", "method": "POST"}, func(v float64) bool { return v == 3 }},
		{"sequencer batches are observed", "tally_sequencer_batch_size", map[string]string{"book": "main"}, func(v float64) bool { return v >= 1 }},
		{"sequencer commit latency is observed", "tally_sequencer_commit_seconds", map[string]string{"book": "main"}, func(v float64) bool { return v >= 1 }},
		{"webhook outcomes are counted per gateway", "tally_webhook_events_total", map[string]string{"gateway": "paystack", "outcome": "credited"}, func(v float64) bool { return v == 2 }},
		{"webhook refusals are counted", "tally_webhook_events_total", map[string]string{"gateway": "stripe", "outcome": "invalid_signature"}, func(v float64) bool { return v == 1 }},
		{"projection lag is exposed", "tally_projection_lag_events", map[string]string{"projection": "reports"}, func(v float64) bool { return v == 7 }},
		{"the pool's size is exposed", "tally_db_pool_max_conns", nil, func(v float64) bool { return v > 0 }},
		{"pool acquisitions are counted", "tally_db_pool_acquires_total", nil, func(v float64) bool { return v > 0 }},
		{"Go runtime metrics are exposed", "go_goroutines", nil, func(v float64) bool { return v > 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, ok := metricValue(m, c.family, c.labels)
			if !ok || !c.check(v) {
				t.Fatalf("%s%v = %v (found: %v)", c.family, c.labels, v, ok)
			}
		})
	}
	// Every batch answers at least one command: sizes add up to the commands.
	if sum := m["tally_sequencer_batch_size"].GetMetric()[0].GetHistogram().GetSampleSum(); sum != float64(h.api.journal.Stats().Commands) {
		t.Fatalf("batch sizes sum to %v, the journal answered %d commands", sum, h.api.journal.Stats().Commands)
	}
}

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Secrets sent to or made by the API — API keys (admin, scoped, rotated,
// revoked, forged), webhook signatures and tokens, secrets in bodies and
// query strings — never appear in the logs, even at debug level and on
// error paths; the request log does carry request and key ids.
func TestSecretsNeverReachTheLogs(t *testing.T) {
	logs := &syncBuffer{}
	h := newHarness(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.RateLimit, c.RateBurst = 1, 10 // enough for every key but the one sending a burst
	})
	const webhookSecret = "whsec_0123456789abcdefSECRET"
	const bodySecret = "sk_live_BODYSECRET0123456789"
	const querySecret = "QUERYSECRET0123456789"
	forged, _ := ledger.NewAPIKeySecret()

	created := h.newKey("alice", "accounts:read", "accounts:write", "transfers:write")
	scoped := created["key"].(string)
	rotated := h.must(h.do("POST", "/v1/keys/"+created["id"].(string)+"/rotate", nil), 201).json(t)
	next := rotated["key"].(string)
	reader := h.newKey("", "events:read")

	acc := h.must(h.do("POST", "/v1/accounts", map[string]any{"currency": "NGN", "metadata": map[string]string{"token": bodySecret}}, as(next)...), 201).str(t, "id")
	h.do("GET", "/v1/accounts/"+acc, nil, as(next, "X-Request-Id", "req-from-client")...)
	h.do("GET", "/v1/accounts?owner="+querySecret, nil, as(next)...)
	h.do("GET", "/v1/accounts", nil, as(scoped)...)                                                          // rotated away: 401
	h.do("GET", "/v1/accounts", nil, as(forged)...)                                                          // unknown: 401
	h.do("GET", "/v1/events", nil, as(next)...)                                                              // 403
	h.do("POST", "/v1/transfers", map[string]any{"secret": bodySecret}, as(next, "Idempotency-Key", "k")...) // 400
	for range 12 {
		h.do("GET", "/v1/events", nil, as(reader["key"].(string))...) // the last are 429
	}
	for _, hdr := range [][]string{
		{"x-paystack-signature", webhookSecret}, {"Stripe-Signature", "t=1,v1=" + webhookSecret}, {"x-callback-token", webhookSecret},
	} {
		h.do("POST", "/v1/webhooks/paystack", `{"event":"charge.success"}`, append([]string{"Authorization", ""}, hdr...)...)
		h.do("POST", "/v1/transfers", `{"event":"charge.success"}`, hdr...)
	}
	h.must(h.do("DELETE", "/v1/keys/"+rotated["id"].(string), nil), 204)
	h.do("GET", "/v1/accounts", nil, as(next)...) // revoked: 401

	out := logs.String()
	for name, secret := range map[string]string{
		"the admin key": adminKey, "a created key": scoped, "a rotated key": next, "a key's secret part": next[len(rotated["prefix"].(string)):],
		"an events:read key": reader["key"].(string), "a forged key": forged, "a webhook secret": webhookSecret,
		"a secret in a body": bodySecret, "a secret in a query string": querySecret,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("%s appears in the logs", name)
		}
	}

	// The logs are there, and say who did what.
	var sawKey, sawClientID, lines int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON log line: %s", sc.Text())
		}
		if line["msg"] != "request" {
			continue
		}
		lines++
		if line["request_id"] == nil {
			t.Errorf("a request log line without request_id: %s", sc.Text())
		}
		if line["key_id"] == rotated["id"] {
			sawKey++
		}
		if line["request_id"] == "req-from-client" {
			sawClientID++
		}
	}
	if lines < 15 || sawKey < 3 || sawClientID != 1 {
		t.Fatalf("%d request lines, %d with the rotated key's id, %d with the client's request id:\n%s", lines, sawKey, sawClientID, out)
	}
}
