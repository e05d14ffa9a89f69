package main

import (
	"reflect"
	"testing"
)

// The e2e render chart: `fail` and `required` in its template, a nil pointer
// without image, and a namespace a value chooses.
const renderChart = "../../../tests/e2e/charts/render"

func renderRequest(values map[string]any, confine *confinement, verdict bool) *request {
	return &request{
		Chart:   chartRef{Path: renderChart, Digest: "render"},
		Release: "web", Namespace: "team-a", Values: values,
		Confine: confine, Verdict: verdict,
	}
}

// A verdict render answers what the full render answers, less the manifest and
// the objects: the same error for every values, and the manifest's size.
func TestVerdictRenderJudgesAsTheFullRender(t *testing.T) {
	c, err := newCluster("", true)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(c, nil)
	image := map[string]any{"tag": "1.0"}
	confine := &confinement{Namespace: "team-a"}
	cases := map[string]map[string]any{
		"renders":         {"owner": "ann", "image": image},
		"fails":           {"owner": "ann", "image": image, "mode": "fail"},
		"required":        {"image": image},
		"nil pointer":     {"owner": "ann"},
		"other namespace": {"owner": "ann", "image": image, "targetNamespace": "team-b"},
		"cluster-scoped":  {"owner": "ann", "image": image, "createNamespace": true},
	}
	for name, values := range cases {
		for _, rule := range []*confinement{confine, nil} {
			full, fullErr := e.render(renderRequest(values, rule, false))
			verdict, verdictErr := e.render(renderRequest(values, rule, true))
			if !reflect.DeepEqual(fullErr, verdictErr) {
				t.Errorf("%s (confine %v): full render failed with %v, verdict with %v", name, rule != nil, fullErr, verdictErr)
				continue
			}
			if fullErr != nil {
				continue
			}
			manifest := full.(renderResult).Manifest
			if got := verdict.(renderVerdict).ManifestBytes; got != len(manifest) {
				t.Errorf("%s: verdict says %d bytes, the manifest has %d", name, got, len(manifest))
			}
		}
	}
	// the cases do reach every answer: a success, Helm's failures, a refusal
	if _, err := e.render(renderRequest(cases["renders"], confine, true)); err != nil {
		t.Errorf("renders: %v", err)
	}
	for _, name := range []string{"fails", "required", "nil pointer"} {
		if _, err := e.render(renderRequest(cases[name], confine, true)); classify(err, codeHelm).Code != codeRender {
			t.Errorf("%s: want a render failure, got %v", name, err)
		}
	}
	for _, name := range []string{"other namespace", "cluster-scoped"} {
		_, err := e.render(renderRequest(cases[name], confine, true))
		if f := classify(err, codeHelm); f.Code != codeConfinement || len(f.Violations) != 1 {
			t.Errorf("%s: want one confinement violation, got %v", name, err)
		}
	}
}
