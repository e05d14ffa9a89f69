package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func testMapper() meta.RESTMapper {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot)
	return mapper
}

func TestRequestScope(t *testing.T) {
	scope := &requestScope{namespace: "team-a", clusterScopedKinds: []string{"Namespace"}, mapper: testMapper()}
	cases := []struct {
		method, path string
		allowed      bool
		says         string
	}{
		{"GET", "/api/v1/namespaces/team-a/secrets/shared", true, ""},
		{"PATCH", "/apis/apps/v1/namespaces/team-a/deployments/web", true, ""},
		{"GET", "/api/v1/namespaces/team-b/secrets/vault", false, `it is in namespace "team-b"; a release may only read and write its own namespace "team-a"`},
		{"GET", "/apis/apps/v1/namespaces/kube-system/deployments", false, `namespace "kube-system"`},
		{"GET", "/api/v1/secrets", false, "Secret across all namespaces"},
		{"GET", "/api/v1/namespaces/team-a", true, ""},
		{"GET", "/api/v1/namespaces/team-b", true, ""}, // Namespace is an allowed cluster-scoped kind here
		{"GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", false, "this binding allows no cluster-scoped ClusterRole objects"},
		{"GET", "/apis/forged.example.com/v1/things", false, "no kind this cluster serves"},
		{"GET", "/api", true, ""},
		{"GET", "/apis/apps/v1", true, ""},
		{"GET", "/version", true, ""},
		{"POST", "/apis", false, "discovery is read only"},
		{"GET", "/metrics", false, "not a Kubernetes API path"},
	}
	for _, c := range cases {
		why := scope.refusal(c.method, c.path)
		if (why == "") != c.allowed || !strings.Contains(why, c.says) {
			t.Errorf("%s %s: refusal %q, want allowed=%v saying %q", c.method, c.path, why, c.allowed, c.says)
		}
	}
	strict := &requestScope{namespace: "team-a", mapper: testMapper()}
	if why := strict.refusal("GET", "/api/v1/namespaces/team-b"); why == "" {
		t.Errorf("another Namespace object was readable without Namespace in clusterScopedKinds")
	}
	if why := strict.refusal("DELETE", "/api/v1/namespaces/team-a"); why == "" {
		t.Errorf("its own Namespace could be deleted")
	}
}

type recordingTransport struct{ seen []string }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.seen = append(r.seen, req.URL.Path)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

func TestScopedTransportAnswersForbiddenItself(t *testing.T) {
	next := &recordingTransport{}
	transport := (&requestScope{namespace: "team-a", mapper: testMapper()}).wrap(next)
	refused, _ := http.NewRequest("GET", "https://api.example/api/v1/namespaces/team-b/secrets/vault", nil)
	answer, err := transport.RoundTrip(refused)
	if err != nil || answer.StatusCode != http.StatusForbidden {
		t.Fatalf("refused request: %v %v", answer, err)
	}
	var status map[string]any
	if err := json.NewDecoder(answer.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	if status["reason"] != "Forbidden" || !strings.Contains(status["message"].(string), "lostromos refused GET /api/v1/namespaces/team-b/secrets/vault") {
		t.Errorf("status %v", status)
	}
	allowed, _ := http.NewRequest("GET", "https://api.example/api/v1/namespaces/team-a/secrets/x", nil)
	if _, err := transport.RoundTrip(allowed); err != nil {
		t.Fatal(err)
	}
	if len(next.seen) != 1 || next.seen[0] != "/api/v1/namespaces/team-a/secrets/x" {
		t.Errorf("sent on: %v (the refused request must never leave)", next.seen)
	}
}

func TestScrubbingHandlerScrubsMessagesAndAttributes(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(newScrubbingHandler(slog.NewJSONHandler(&out, nil), []string{"hunter2", "hunter2-long"}))
	logger.With("where", "token hunter2").Warn("upgrade failed: hunter2-long", slog.Any("error", errString("Invalid value: \"hunter2\"")), slog.Group("g", slog.String("s", "hunter2")))
	if strings.Contains(out.String(), "hunter2") || !strings.Contains(out.String(), redacted) {
		t.Errorf("log line %s", out.String())
	}
	if got := scrub("a hunter2-long b", longestFirst([]string{"hunter2", "hunter2-long"})); got != "a <redacted> b" {
		t.Errorf("scrub: %q", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
