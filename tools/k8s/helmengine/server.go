package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"time"
)

// maxRequestBytes bounds one request line: values for one release plus a chart
// reference. Admission already limits object size far below this.
const maxRequestBytes = 64 << 20

// request is every operation's envelope; each operation reads the fields it needs.
type request struct {
	ID          int64             `json:"id"`
	Op          string            `json:"op"`
	Chart       chartRef          `json:"chart"`
	Release     string            `json:"release"`
	Namespace   string            `json:"namespace"`
	Values      map[string]any    `json:"values"`
	Labels      map[string]string `json:"labels"`
	Impersonate string            `json:"impersonate"`
	Timeout     float64           `json:"timeoutSeconds"`
	Wait        bool              `json:"wait"`
	Revision    int               `json:"revision"`
	Confine     *confinement      `json:"confine"`
	// Sensitive values of the object: scrubbed from errors and Helm's log lines.
	Redact      []string   `json:"redact"`
	Repository  string     `json:"repository"`
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Destination string     `json:"destination"`
	Source      pullSource `json:"source"`
	Digest      string     `json:"digest"`
	// The caller has judged the values against the chart's schema already.
	SkipSchemaValidation bool `json:"skipSchemaValidation"`
	// Release revisions kept (as `helm upgrade --history-max`); 0 keeps every one.
	MaxHistory int `json:"maxHistory"`
	// `render`: answer the verdict and the manifest's size, not the manifest.
	Verdict bool `json:"verdict"`
}

type chartRef struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
}

type server struct {
	engine *engine
	log    *slog.Logger
}

func (s *server) serve(listener net.Listener) {
	for {
		conn, err := listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "error", err.Error())
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go s.handle(conn)
	}
}

func (s *server) handle(conn net.Conn) {
	defer conn.Close()
	reader := bufio.NewReaderSize(conn, 64<<10)
	encoder := json.NewEncoder(conn)
	for {
		line, err := readLine(reader)
		if err != nil {
			return // the client hung up (or sent more than maxRequestBytes)
		}
		var req request
		answer := response{}
		if err := json.Unmarshal(line, &req); err != nil {
			answer.Error = &failure{Code: codeBadRequest, Message: "request is not valid JSON: " + err.Error()}
		} else {
			answer = s.dispatch(&req)
		}
		if err := encoder.Encode(answer); err != nil {
			return
		}
	}
}

func readLine(reader *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := reader.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > maxRequestBytes {
			return nil, errors.New("request too large")
		}
		if !isPrefix {
			return line, nil
		}
	}
}

func (s *server) dispatch(req *request) response {
	started := time.Now()
	result, err := s.run(req)
	answer := response{ID: req.ID, OK: err == nil, Result: result}
	// Logs carry the operation, the release and the outcome: never values.
	attrs := []any{"op", req.Op, "release", req.Release, "namespace", req.Namespace,
		"ms", time.Since(started).Milliseconds()}
	if err != nil {
		f := classify(err, codeHelm)
		if len(req.Redact) > 0 {
			f = &failure{Code: f.Code, Message: scrub(f.Message, longestFirst(req.Redact)), Violations: f.Violations}
		}
		answer.Error = f
		s.log.Info("request failed", append(attrs, "code", f.Code)...)
	} else {
		s.log.Debug("request done", attrs...)
	}
	return answer
}

func (s *server) run(req *request) (any, error) {
	switch req.Op {
	case "hello":
		return helloResult{Protocol: protocolVersion, Helm: helmVersion(), Cluster: s.engine.cluster.connected()}, nil
	case "render":
		return s.engine.render(req)
	case "upgrade":
		return s.engine.upgrade(req)
	case "status":
		return s.engine.status(req)
	case "uninstall":
		return s.engine.uninstall(req)
	case "rollback":
		return s.engine.rollback(req)
	case "adopt":
		return s.engine.adopt(req)
	case "pull":
		return s.engine.pull(req)
	default:
		return nil, &failure{Code: codeBadRequest, Message: "unknown op " + req.Op}
	}
}

// helmVersion is the helm.sh/helm/v4 module version this program was built from.
func helmVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == "helm.sh/helm/v4" {
			return dep.Version
		}
	}
	return "unknown"
}
