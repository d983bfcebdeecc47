package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Load modes of tally bench.
const (
	modeUniform = "uniform" // transfers between two random wallets
	modeHot     = "hot"     // one wallet takes part in every transfer
	modeWebhook = "webhook" // signed Paystack charge.success webhooks crediting random wallets
	modeBatch   = "batch"   // POST /v1/batch with batchSize transfers between random wallets
	modeHold    = "hold"    // a hold between two random wallets, then its capture
)

// batchSize is how many transfers one request of batch mode carries; its
// ops are transfers, its latencies those of whole requests.
const batchSize = 100

// opsPerRequest is how many operations one measured request of mode is.
func opsPerRequest(mode string) int {
	if mode == modeBatch {
		return batchSize
	}
	return 1
}

// loadSpec is one measured run: C clients hammering one endpoint for a while.
type loadSpec struct {
	target   *url.URL
	adminKey string
	mode     string
	clients  int
	warmup   time.Duration // requests sent but not measured, so connections and caches are warm
	duration time.Duration
	wallets  []string // account ids; wallets[0] is the hot one
	currency string
	secret   string  // Paystack secret key the webhooks are signed with
	run      string  // digits that make idempotency keys and webhook ids unique across runs
	retries  float64 // share of uniform, hot and webhook requests sent again once answered
	// mark, if set, is called as the measured window opens (true) and
	// once every client has stopped after it closes (false).
	mark func(open bool)
}

// loadResult is what a run measured.
type loadResult struct {
	Mode      string        `json:"mode"`
	Clients   int           `json:"clients"`
	Ops       int           `json:"ops"`
	Errors    int           `json:"errors"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	PerSecond float64       `json:"per_second"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	P999      time.Duration `json:"p999_ns"`
	FirstErr  string        `json:"first_error,omitempty"`
	// CPU time per operation over the measured window: the in-process Tally
	// server (the load generator runs in a process of its own, see
	// bench_apart.go), the PostgreSQL server's processes, and the load
	// generator.
	CPUServerPerOp   time.Duration `json:"cpu_server_per_op_ns,omitempty"`
	CPUPostgresPerOp time.Duration `json:"cpu_postgres_per_op_ns,omitempty"`
	CPULoadPerOp     time.Duration `json:"cpu_load_generator_per_op_ns,omitempty"`
}

// runLoad drives spec.clients concurrent keep-alive connections, each sending
// its next request as soon as the previous one is answered (a closed loop),
// and returns throughput and latency percentiles over the measured window.
//
// The client is a minimal HTTP/1.1 writer over one net.Conn per client, not
// net/http's Transport: on a 2-core machine every microsecond the load
// generator spends is taken from the server it measures, and the Transport
// costs several times more per request (goroutine hand-offs, header maps).
// Responses are still parsed by net/http.ReadResponse.
func runLoad(ctx context.Context, spec loadSpec) (loadResult, error) {
	res := loadResult{Mode: spec.mode, Clients: spec.clients}
	conns := make([]net.Conn, spec.clients)
	for i := range conns {
		c, err := net.Dial("tcp", spec.target.Host)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return res, fmt.Errorf("bench: connect to %s: %w", spec.target.Host, err)
		}
		conns[i] = c
	}
	var measuring atomic.Bool
	stop := make(chan struct{})
	lat := make([][]time.Duration, spec.clients)
	errs := make([]int, spec.clients)
	firstErr := make([]error, spec.clients)
	var wg sync.WaitGroup
	for i := range spec.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conns[i].Close()
			cl := newLoadClient(spec, i, conns[i])
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				err := cl.do()
				d := time.Since(start)
				if !measuring.Load() {
					if err != nil && !cl.alive {
						firstErr[i] = err
						return
					}
					continue
				}
				if err != nil {
					errs[i]++
					if firstErr[i] == nil {
						firstErr[i] = err
					}
					if !cl.alive {
						return
					}
					continue
				}
				lat[i] = append(lat[i], d)
			}
		}()
	}
	select {
	case <-time.After(spec.warmup):
	case <-ctx.Done():
	}
	if spec.mark != nil {
		spec.mark(true)
	}
	measuring.Store(true)
	begin := time.Now()
	select {
	case <-time.After(spec.duration):
	case <-ctx.Done():
	}
	// Requests that finish after this point are still counted: the window
	// is closed when every client has stopped, and the elapsed time with it.
	close(stop)
	wg.Wait()
	res.Elapsed = time.Since(begin)
	if spec.mark != nil {
		spec.mark(false)
	}

	var all []time.Duration
	for i := range lat {
		all = append(all, lat[i]...)
		res.Errors += errs[i]
		if firstErr[i] != nil && res.FirstErr == "" {
			res.FirstErr = firstErr[i].Error()
		}
	}
	slices.Sort(all)
	res.Ops = len(all) * opsPerRequest(spec.mode)
	res.PerSecond = float64(res.Ops) / res.Elapsed.Seconds()
	res.P50, res.P99, res.P999 = percentile(all, 0.50), percentile(all, 0.99), percentile(all, 0.999)
	if res.Ops == 0 {
		return res, fmt.Errorf("bench: no request succeeded (%d errors; first: %s)", res.Errors, res.FirstErr)
	}
	return res, ctx.Err()
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// loadClient is one connection's request loop.
type loadClient struct {
	spec  loadSpec
	id    int
	conn  net.Conn
	r     *bufio.Reader
	rng   *rand.Rand
	n     int
	buf   []byte
	body  []byte
	alive bool // false once the connection is unusable
}

func newLoadClient(spec loadSpec, id int, conn net.Conn) *loadClient {
	return &loadClient{
		spec: spec, id: id, conn: conn, r: bufio.NewReaderSize(conn, 8<<10),
		rng:   rand.New(rand.NewPCG(uint64(id)+1, uint64(time.Now().UnixNano()))),
		alive: true,
	}
}

// do sends one operation's requests and reads their answers; a non-2xx
// answer is an error.
func (c *loadClient) do() error {
	// A retry sends the last request again: the same body, and the same
	// key (made from c.n) or webhook.
	retry := c.n > 0 && c.spec.retries > 0 && c.rng.Float64() < c.spec.retries
	if !retry || (c.spec.mode != modeUniform && c.spec.mode != modeHot && c.spec.mode != modeWebhook) {
		retry = false
		c.n++
		c.body = c.body[:0]
	}
	switch c.spec.mode {
	case modeWebhook:
		if !retry {
			c.webhookBody()
		}
		_, err := c.post("/v1/webhooks/paystack", false)
		return err
	case modeBatch:
		c.batchBody()
		_, err := c.post("/v1/batch", false)
		return err
	case modeHold:
		c.transferBody()
		created, err := c.post("/v1/holds", true)
		if err != nil {
			return err
		}
		var hold struct{ ID string }
		if err := json.Unmarshal(created, &hold); err != nil || hold.ID == "" {
			return fmt.Errorf("/v1/holds: no hold id in %.100s", created)
		}
		c.body = c.body[:0]
		c.n++
		_, err = c.post("/v1/holds/"+hold.ID+"/capture", false)
		return err
	default:
		if !retry {
			c.transferBody()
		}
		_, err := c.post("/v1/transfers", false)
		return err
	}
}

// post sends c.body to path and returns the answer's body if keep is set
// (otherwise it is discarded); a non-2xx answer is an error.
func (c *loadClient) post(path string, keep bool) ([]byte, error) {
	c.buf = c.buf[:0]
	c.buf = append(c.buf, "POST "...)
	c.buf = append(c.buf, path...)
	c.buf = append(c.buf, " HTTP/1.1\r\nHost: "...)
	c.buf = append(c.buf, c.spec.target.Host...)
	c.buf = append(c.buf, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	c.buf = strconv.AppendInt(c.buf, int64(len(c.body)), 10)
	if c.spec.mode == modeWebhook {
		mac := hmac.New(sha512.New, []byte(c.spec.secret))
		mac.Write(c.body)
		c.buf = append(c.buf, "\r\nX-Paystack-Signature: "...)
		c.buf = hex.AppendEncode(c.buf, mac.Sum(nil))
	} else {
		c.buf = append(c.buf, "\r\nAuthorization: Bearer "...)
		c.buf = append(c.buf, c.spec.adminKey...)
		c.buf = append(c.buf, "\r\nIdempotency-Key: bench-"...)
		c.buf = append(c.buf, c.spec.run...)
		c.buf = append(c.buf, '-')
		c.buf = strconv.AppendInt(c.buf, int64(c.id), 10)
		c.buf = append(c.buf, '-')
		c.buf = strconv.AppendInt(c.buf, int64(c.n), 10)
	}
	c.buf = append(c.buf, "\r\n\r\n"...)
	c.buf = append(c.buf, c.body...)
	if _, err := c.conn.Write(c.buf); err != nil {
		c.alive = false
		return nil, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.alive = false
		return nil, err
	}
	var kept bytes.Buffer
	switch {
	case resp.StatusCode/100 != 2:
		_, _ = io.Copy(&kept, io.LimitReader(resp.Body, 300))
	case keep:
		_, err = io.Copy(&kept, resp.Body)
	}
	if _, cerr := io.Copy(io.Discard, resp.Body); err == nil {
		err = cerr
	}
	resp.Body.Close()
	if err != nil || resp.Close {
		c.alive = false
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s", path, resp.Status, kept.String())
	}
	return kept.Bytes(), err
}

// pair picks the two wallets of a transfer: in hot mode one of them is
// always wallets[0], in alternating directions so that it never drains.
func (c *loadClient) pair() (from, to string) {
	w := c.spec.wallets
	if c.spec.mode == modeHot {
		other := w[1+c.rng.IntN(len(w)-1)]
		if c.n%2 == 0 {
			return w[0], other
		}
		return other, w[0]
	}
	i, j := c.rng.IntN(len(w)), c.rng.IntN(len(w)-1)
	if j >= i {
		j++
	}
	return w[i], w[j]
}

// batchBody is a non-atomic batch of batchSize transfers between random
// wallets, each item with its own key.
func (c *loadClient) batchBody() {
	c.body = append(c.body, `{"items":[`...)
	for i := range batchSize {
		if i > 0 {
			c.body = append(c.body, ',')
		}
		from, to := c.pair()
		c.body = append(c.body, `{"type":"transfer","idempotency_key":"bench-`...)
		c.body = append(c.body, c.spec.run...)
		c.body = fmt.Appendf(c.body, "-%d-%d-%d", c.id, c.n, i)
		c.body = append(c.body, `","body":{"from":"`...)
		c.body = append(c.body, from...)
		c.body = append(c.body, `","to":"`...)
		c.body = append(c.body, to...)
		c.body = append(c.body, `","amount":"1.00","currency":"`...)
		c.body = append(c.body, c.spec.currency...)
		c.body = append(c.body, `"}}`...)
	}
	c.body = append(c.body, `]}`...)
}

func (c *loadClient) transferBody() {
	from, to := c.pair()
	c.body = append(c.body, `{"from":"`...)
	c.body = append(c.body, from...)
	c.body = append(c.body, `","to":"`...)
	c.body = append(c.body, to...)
	c.body = append(c.body, `","amount":"1.00","currency":"`...)
	c.body = append(c.body, c.spec.currency...)
	c.body = append(c.body, `"}`...)
}

// webhookBody is a Paystack charge.success for a payment no deposit knows,
// naming a wallet in its metadata (a transfer to a virtual account): Tally
// credits it as an unsolicited deposit. Reference and id are unique, so each
// webhook is a new payment that credits once.
func (c *loadClient) webhookBody() {
	w := c.spec.wallets[c.rng.IntN(len(c.spec.wallets))]
	ref := fmt.Sprintf("bench-%s-%d-%d", c.spec.run, c.id, c.n)
	c.body = fmt.Appendf(c.body, `{"event":"charge.success","data":{"id":%s%04d%09d,"reference":%q,"amount":100,"currency":%q,`+
		`"gateway_response":"Successful","metadata":{"tally_account":%q}}}`,
		c.spec.run, c.id, c.n, ref, c.spec.currency, w)
}
