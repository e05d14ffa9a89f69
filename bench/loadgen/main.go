// Command loadgen is an open-loop HTTPS load generator for the lostromos
// admission webhook benchmark (bench/webhook.py builds and runs it).
//
// Requests are scheduled at fixed times (start + i/rate) whatever the server
// is doing, and each latency is measured from the scheduled time, so a server
// that falls behind shows its queueing in the percentiles instead of quietly
// slowing the generator down (coordinated omission). Connections are a
// keep-alive pool over HTTP/1.1 and TLS 1.2+, as the API server calls
// webhooks. The result is one JSON object on stdout.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	url         string
	caFile      string
	bodyFile    string
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	connections int
	timeout     time.Duration
	vary        bool
}

// seqMarker, with -vary, is replaced in each request's body by that request's
// number, so that no two requests are alike (no verdict can be reused).
var (
	seqMarker = []byte("__SEQ__")
	sequence  atomic.Int64
)

func bodyFor(opts options, body []byte) []byte {
	if !opts.vary {
		return body
	}
	return bytes.ReplaceAll(body, seqMarker, []byte(strconv.FormatInt(sequence.Add(1), 10)))
}

// sample is one request: when it was due, when it was sent and when it ended.
type sample struct {
	scheduled time.Duration // since the start of the measured run
	sent      time.Duration
	done      time.Duration
	status    int
	err       string
}

type percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type result struct {
	URL              string         `json:"url"`
	TargetRate       float64        `json:"target_rate"`
	DurationSeconds  float64        `json:"duration_seconds"`
	Connections      int            `json:"connections"`
	Scheduled        int            `json:"scheduled"`
	Completed        int            `json:"completed"`
	Errors           int            `json:"errors"`
	ErrorSamples     []string       `json:"error_samples"`
	StatusCounts     map[string]int `json:"status_counts"`
	AchievedRate     float64        `json:"achieved_rate"`
	LatencyMillis    percentiles    `json:"latency_ms"`
	ServiceMillis    percentiles    `json:"service_ms"`
	MaxSendLagMillis float64        `json:"max_send_lag_ms"`
	TLSVersion       string         `json:"tls_version"`
	Protocol         string         `json:"protocol"`
}

func main() {
	var opts options
	flag.StringVar(&opts.url, "url", "", "endpoint to POST to, e.g. https://127.0.0.1:8443/validate")
	flag.StringVar(&opts.caFile, "ca", "", "PEM file of the CA that signed the server certificate")
	flag.StringVar(&opts.bodyFile, "body", "", "file holding the request body (JSON)")
	flag.Float64Var(&opts.rate, "rate", 100, "requests per second")
	flag.DurationVar(&opts.duration, "duration", 10*time.Second, "length of the measured run")
	flag.DurationVar(&opts.warmup, "warmup", 2*time.Second, "unmeasured run at the same rate first")
	flag.IntVar(&opts.connections, "connections", 4, "keep-alive connections, each on its own goroutine")
	flag.DurationVar(&opts.timeout, "timeout", 10*time.Second, "per-request timeout (the API server's)")
	flag.BoolVar(&opts.vary, "vary", false, "replace __SEQ__ in the body by each request's number")
	flag.Parse()
	if opts.url == "" || opts.caFile == "" || opts.bodyFile == "" || opts.rate <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -url, -ca, -body and a positive -rate are required")
		os.Exit(2)
	}
	res, err := run(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(res); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

func newClient(opts options) (*http.Client, error) {
	pem, err := os.ReadFile(opts.caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", opts.caFile)
	}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:    pool,
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"},
		},
		ForceAttemptHTTP2:   false,
		MaxConnsPerHost:     1,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: transport, Timeout: opts.timeout}, nil
}

// send makes one request and reads the whole answer, so the connection is reused.
func send(client *http.Client, url string, body []byte) (int, *tls.ConnectionState, string, error) {
	request, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("Accept", "application/json")
	response, err := client.Do(request)
	if err != nil {
		return 0, nil, "", err
	}
	defer response.Body.Close()
	if _, err := io.Copy(io.Discard, response.Body); err != nil {
		return response.StatusCode, response.TLS, response.Proto, err
	}
	return response.StatusCode, response.TLS, response.Proto, nil
}

// openLoop schedules requests at start + i/rate for `length`; the connections' goroutines
// take them in order. A request waiting for a free connection keeps its scheduled time.
func openLoop(clients []*http.Client, opts options, body []byte, length time.Duration) []sample {
	count := int(opts.rate * length.Seconds())
	interval := time.Duration(float64(time.Second) / opts.rate)
	samples := make([]sample, count)
	due := make(chan int, count)
	var wg sync.WaitGroup
	start := time.Now()
	for _, client := range clients {
		wg.Add(1)
		go func(client *http.Client) {
			defer wg.Done()
			for i := range due {
				slot := &samples[i]
				slot.sent = time.Since(start)
				status, _, _, err := send(client, opts.url, bodyFor(opts, body))
				slot.done = time.Since(start)
				slot.status = status
				if err != nil {
					slot.err = err.Error()
				}
			}
		}(client)
	}
	for i := 0; i < count; i++ {
		scheduled := time.Duration(i) * interval
		if wait := scheduled - time.Since(start); wait > 0 {
			time.Sleep(wait)
		}
		samples[i].scheduled = scheduled
		due <- i
	}
	close(due)
	wg.Wait()
	return samples
}

func run(opts options) (*result, error) {
	body, err := os.ReadFile(opts.bodyFile)
	if err != nil {
		return nil, err
	}
	// One client with one connection per goroutine: every connection opened sends a
	// request at once. (A shared pool can dial a connection that then sits idle before
	// its first request, and gunicorn's gthread worker parks a thread on such a one.)
	clients := make([]*http.Client, opts.connections)
	var tlsVersion, protocol string
	for i := range clients {
		if clients[i], err = newClient(opts); err != nil {
			return nil, err
		}
		_, state, proto, err := send(clients[i], opts.url, bodyFor(opts, body))
		if err != nil {
			return nil, fmt.Errorf("server not answering: %w", err)
		}
		if state != nil {
			tlsVersion = tls.VersionName(state.Version)
			protocol = proto
		}
	}
	if opts.warmup > 0 {
		openLoop(clients, opts, body, opts.warmup)
	}
	samples := openLoop(clients, opts, body, opts.duration)
	return summarize(opts, samples, tlsVersion, protocol), nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarize(opts options, samples []sample, tlsVersion, protocol string) *result {
	res := &result{
		URL: opts.url, TargetRate: opts.rate, DurationSeconds: opts.duration.Seconds(),
		Connections: opts.connections, Scheduled: len(samples), StatusCounts: map[string]int{},
		ErrorSamples: []string{}, TLSVersion: tlsVersion, Protocol: protocol,
	}
	var latencies, services []time.Duration
	var lastDone time.Duration
	for _, s := range samples {
		if lag := s.sent - s.scheduled; millis(lag) > res.MaxSendLagMillis {
			res.MaxSendLagMillis = millis(lag)
		}
		if s.err != "" {
			res.Errors++
			if len(res.ErrorSamples) < 5 {
				res.ErrorSamples = append(res.ErrorSamples, s.err)
			}
		}
		if s.status != 0 {
			res.StatusCounts[fmt.Sprint(s.status)]++
		}
		if s.err == "" && s.status != 0 {
			res.Completed++
			latencies = append(latencies, s.done-s.scheduled)
			services = append(services, s.done-s.sent)
		}
		if s.done > lastDone {
			lastDone = s.done
		}
	}
	if lastDone > 0 {
		res.AchievedRate = float64(res.Completed) / lastDone.Seconds()
	}
	res.LatencyMillis = distribution(latencies)
	res.ServiceMillis = distribution(services)
	return res
}

func distribution(values []time.Duration) percentiles {
	if len(values) == 0 {
		return percentiles{}
	}
	sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
	at := func(q float64) float64 {
		index := int(q*float64(len(values))+0.5) - 1
		if index < 0 {
			index = 0
		}
		if index >= len(values) {
			index = len(values) - 1
		}
		return millis(values[index])
	}
	var total time.Duration
	for _, v := range values {
		total += v
	}
	return percentiles{
		P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max: millis(values[len(values)-1]), Mean: millis(total / time.Duration(len(values))),
	}
}
