package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// benchSubscriber is tally bench -subscribe: a webhook receiver on this
// machine's loopback, subscribed to every event of the target, and the
// delivery lag sampled from the target's /metrics while the load runs.
type benchSubscriber struct {
	base     *url.URL
	adminKey string
	srv      *http.Server
	received atomic.Int64
	id       string
}

// deliveryLag is what one load run's deliveries looked like.
type deliveryLag struct {
	MaxLag       int64   `json:"max_lag_positions"`
	MaxAge       float64 `json:"max_oldest_undelivered_seconds"`
	DrainSeconds float64 `json:"drain_seconds"` // after the load ended, until the lag was 0
	Received     int64   `json:"received"`
}

// startBenchSubscriber starts the receiver and subscribes it.
func startBenchSubscriber(ctx context.Context, base *url.URL, adminKey string) (*benchSubscriber, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &benchSubscriber{base: base, adminKey: adminKey}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.received.Add(1)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	body := fmt.Sprintf(`{"url":"http://%s/hook","events":["*"],"description":"tally bench -subscribe"}`, ln.Addr())
	resp, err := s.do(ctx, "POST", "/v1/subscriptions", body)
	if err != nil {
		s.srv.Close()
		return nil, err
	}
	var created struct{ ID string }
	if err := json.Unmarshal([]byte(resp), &created); err != nil || created.ID == "" {
		s.srv.Close()
		return nil, fmt.Errorf("-subscribe: unexpected answer %q", resp)
	}
	s.id = created.ID
	return s, nil
}

func (s *benchSubscriber) do(ctx context.Context, method, path, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base.String()+path, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("-subscribe: %s %s answered %d: %s", method, path, resp.StatusCode, b)
	}
	return string(b), nil
}

// close deletes the subscription and stops the receiver.
func (s *benchSubscriber) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = s.do(ctx, "DELETE", "/v1/subscriptions/"+s.id, "")
	_ = s.srv.Close()
}

// sample reads the webhook sink's lag and oldest undelivered age from /metrics.
func (s *benchSubscriber) sample(ctx context.Context) (lag int64, age float64, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base.String()+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	lag = -1
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, `tally_sink_lag_positions{sink="webhooks"} `); ok {
			f, _ := strconv.ParseFloat(v, 64)
			lag = int64(f)
		} else if v, ok := strings.CutPrefix(line, `tally_sink_oldest_undelivered_seconds{sink="webhooks"} `); ok {
			age, _ = strconv.ParseFloat(v, 64)
		}
	}
	if lag < 0 {
		return 0, 0, fmt.Errorf("-subscribe: the target's /metrics has no tally_sink_lag_positions{sink=\"webhooks\"}")
	}
	return lag, age, sc.Err()
}

// watch samples the lag every 250 ms until stop is closed, then waits (up
// to a minute) for the deliveries to catch up.
func (s *benchSubscriber) watch(ctx context.Context, stop <-chan struct{}) (deliveryLag, error) {
	var r deliveryLag
	start := s.received.Load()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-stop:
			running = false
		case <-tick.C:
		}
		lag, age, err := s.sample(ctx)
		if err != nil {
			return r, err
		}
		r.MaxLag, r.MaxAge = max(r.MaxLag, lag), max(r.MaxAge, age)
	}
	ended := time.Now()
	for deadline := ended.Add(time.Minute); ; {
		lag, _, err := s.sample(ctx)
		if err != nil {
			return r, err
		}
		if lag == 0 || time.Now().After(deadline) {
			r.DrainSeconds = time.Since(ended).Seconds()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.Received = s.received.Load() - start
	return r, nil
}
