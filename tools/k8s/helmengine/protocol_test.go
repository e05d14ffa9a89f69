package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
)

// answer runs one request line through the server as a connection would, and
// decodes the answer line into a generic document: what lostromos reads.
func answer(t *testing.T, s *server, line string) map[string]any {
	t.Helper()
	var req request
	if err := json.Unmarshal([]byte(line), &req); err != nil {
		t.Fatal(err)
	}
	encoded, err := json.Marshal(s.dispatch(&req))
	if err != nil {
		t.Fatal(err)
	}
	var document map[string]any
	if err := json.Unmarshal(encoded, &document); err != nil {
		t.Fatal(err)
	}
	return document
}

func renderOnlyServer() *server {
	return &server{engine: newEngine(&cluster{}, nil), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func keys(document map[string]any) []string {
	names := make([]string, 0, len(document))
	for name := range document {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func TestFailuresAnswerTheirCode(t *testing.T) {
	s := renderOnlyServer()
	cases := map[string]errorCode{
		`{"id": 1, "op": "dance"}`: codeBadRequest,
		`{"id": 2, "op": "render", "release": "site", "namespace": "tenant"}`:                            codeBadRequest,
		`{"id": 3, "op": "render", "chart": {"path": "/nonexistent"}, "release": "a", "namespace": "b"}`: codeChart,
		`{"id": 4, "op": "status", "release": "a", "namespace": "b"}`:                                    codeKube,
	}
	for line, want := range cases {
		document := answer(t, s, line)
		failure, _ := document["error"].(map[string]any)
		if document["ok"] != false || failure == nil || failure["code"] != string(want) || failure["message"] == "" {
			t.Errorf("%s: answered %v, want code %s", line, document, want)
		}
		if _, has := document["result"]; has {
			t.Errorf("%s: a failure carries a result: %v", line, document)
		}
	}
}

func TestRenderAnswersManifestAndObjects(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"Chart.yaml":               "apiVersion: v2\nname: site\nversion: 0.1.0\n",
		"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	})
	line, _ := json.Marshal(map[string]any{"id": 7, "op": "render", "chart": map[string]string{"path": dir},
		"release": "web", "namespace": "tenant"})
	document := answer(t, renderOnlyServer(), string(line))
	if document["ok"] != true || document["id"] != float64(7) {
		t.Fatalf("answer %v", document)
	}
	result := document["result"].(map[string]any)
	if got := keys(result); !slices.Equal(got, []string{"manifest", "objects"}) {
		t.Fatalf("render result fields %v", got)
	}
	objects := result["objects"].([]any)
	object := objects[0].(map[string]any)
	if len(objects) != 1 || object["kind"] != "ConfigMap" || object["name"] != "web" ||
		object["namespace"] != "tenant" || object["scope"] != scopeNamespaced {
		t.Fatalf("objects %v", objects)
	}
}

func TestHelloAnswersItsProtocol(t *testing.T) {
	result := answer(t, renderOnlyServer(), `{"id": 1, "op": "hello"}`)["result"].(map[string]any)
	if got := keys(result); !slices.Equal(got, []string{"cluster", "helm", "protocol"}) ||
		result["protocol"] != float64(protocolVersion) || result["cluster"] != false {
		t.Fatalf("hello %v", result)
	}
}

// A release answer always names the release; the Info and record fields are
// absent when Helm's record has none, never empty strings a caller must tell apart.
func TestReleaseAnswerFields(t *testing.T) {
	e := newEngine(&cluster{}, nil)
	encoded, _ := json.Marshal(e.describe(testRelease(3, "deployed", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n")))
	var document map[string]any
	if err := json.Unmarshal(encoded, &document); err != nil {
		t.Fatal(err)
	}
	want := []string{"labels", "name", "namespace", "resources", "revision", "status"}
	if got := keys(document); !slices.Equal(got, want) {
		t.Fatalf("release fields %v, want %v", got, want)
	}
}
