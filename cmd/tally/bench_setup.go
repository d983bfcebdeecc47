package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// fundWallets opens cfg.wallets wallets through the API and credits each
// with an adjustment large enough that no benchmark transfer is refused.
func fundWallets(ctx context.Context, base *url.URL, cfg benchConfig) ([]string, error) {
	start := time.Now()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	post := func(path, key string, body any) (map[string]any, error) {
		raw, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath(path).String(), bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+cfg.adminKey)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("bench: POST %s: %s: %s", path, resp.Status, b)
		}
		var m map[string]any
		return m, json.Unmarshal(b, &m)
	}
	wallets := make([]string, cfg.wallets)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				acc, err := post("/v1/accounts", "", map[string]any{"owner": fmt.Sprintf("bench-%d", i), "currency": cfg.currency})
				if err == nil {
					id, _ := acc["id"].(string)
					wallets[i] = id
					_, err = post("/v1/adjustments", "bench-fund-"+id, map[string]any{
						"account": id, "direction": "credit", "amount": "1000000000.00", "currency": cfg.currency,
						"reason": "tally bench float",
					})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
feed:
	for i := range wallets {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			return nil, err
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.stdout, "opened and funded %d wallets in %s\n", len(wallets), time.Since(start).Round(time.Millisecond))
	return wallets, nil
}

// machineInfo describes where the bench ran.
type machineInfo struct {
	CPUs     int     `json:"cpus"`
	CPU      string  `json:"cpu"`
	MemoryGB float64 `json:"memory_gb"`
	LoadAvg  string  `json:"loadavg_at_start"`
	GoOS     string  `json:"goos"`
}

func (m machineInfo) String() string {
	return fmt.Sprintf("%d × %s, %.0f GB RAM, load average %s", m.CPUs, m.CPU, m.MemoryGB, m.LoadAvg)
}

// describeMachine reads what Linux says of the machine; elsewhere it knows
// only the number of CPUs.
func describeMachine() machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), CPU: "unknown CPU", GoOS: runtime.GOOS}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPU = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		var kb float64
		fmt.Sscanf(v, "%f", &kb)
		m.MemoryGB = kb / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// procField returns the value of the first "name : value" line of a /proc file.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// chartTitle names what the chart shows and where it was measured.
func chartTitle(r benchReport) string {
	return fmt.Sprintf("tally bench — %d CPUs, %s, %s per point (medians)", r.Machine.CPUs, r.Machine.CPU, r.Duration)
}

// chartPanels turns the medians into throughput and p99 panels: one line
// per mode, and pgbench's transactions/s for reference.
func chartPanels(rows []benchRow) []chartPanel {
	byMode := map[string]*chartSeries{}
	p99 := map[string]*chartSeries{}
	var modes []string
	pg := chartSeries{Name: "pgbench TPC-B-like (tps)", Color: "#7f7f7f", Dashed: true, Points: map[int]float64{}}
	for _, r := range rows {
		if byMode[r.Mode] == nil {
			modes = append(modes, r.Mode)
			byMode[r.Mode] = &chartSeries{Name: "tally " + r.Mode, Points: map[int]float64{}}
			p99[r.Mode] = &chartSeries{Name: "tally " + r.Mode, Points: map[int]float64{}}
		}
		byMode[r.Mode].Points[r.Clients] = r.PerSecond
		p99[r.Mode].Points[r.Clients] = float64(r.P99) / 1e6
		if r.PGBenchTPS > 0 {
			pg.Points[r.Clients] = r.PGBenchTPS
		}
	}
	var tput, lat []chartSeries
	for i, m := range modes {
		byMode[m].Color, p99[m].Color = chartColors[i%3], chartColors[i%3]
		tput = append(tput, *byMode[m])
		lat = append(lat, *p99[m])
	}
	if len(pg.Points) > 0 {
		tput = append(tput, pg)
	}
	return []chartPanel{
		{Title: "Throughput", YLabel: "operations per second", Series: tput},
		{Title: "p99 latency", YLabel: "milliseconds", Series: lat},
	}
}
