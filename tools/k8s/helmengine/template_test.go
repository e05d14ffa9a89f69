package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
)

// installTemplate is `helm template` as the helm CLI runs it: Install in a
// client-only dry run, the manifest then the hooks.
func installTemplate(ch *chart.Chart, name, namespace string, values map[string]any) (string, error) {
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = name
	install.Namespace = namespace
	install.Replace = true
	out, err := install.RunWithContext(context.Background(), ch, values)
	if err != nil {
		return "", err
	}
	rel, err := asRelease(out)
	if err != nil {
		return "", err
	}
	var text strings.Builder
	fmt.Fprintln(&text, strings.TrimSpace(rel.Manifest))
	for _, hook := range rel.Hooks {
		fmt.Fprintf(&text, "---\n# Source: %s\n%s\n", hook.Path, hook.Manifest)
	}
	return text.String(), nil
}

// edgeChart is a chart written to reach every branch of Install's steps after
// the template engine: hooks known, unknown and empty, NOTES, a partial, a
// blank file, kinds Helm orders and kinds it does not, documents with trailing
// blank lines, and, by value, a document that does not parse or a kubeVersion
// the default capabilities do not meet.
func edgeChart(t *testing.T, kubeVersion string) string {
	t.Helper()
	return writeChart(t, map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: edge\nversion: 0.1.0\n" + kubeVersion,
		"values.yaml":            "broken: false\nextra: 1\n",
		"templates/NOTES.txt":    "Installed {{ .Release.Name }}.\n",
		"templates/_helpers.tpl": `{{- define "edge.name" }}{{ .Release.Name }}-edge{{ end }}` + "\n",
		"templates/blank.yaml":   "{{- if false }}\nkind: Never\n{{- end }}\n   \n",
		"templates/many.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ include "edge.name" . }}
---
kind: Widget
apiVersion: example.com/v1
metadata:
  name: w
---
apiVersion: v1
kind: Namespace
metadata:
  name: n-{{ .Values.extra }}


---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, annotations: {note: plain}}
data: {a: "1"}
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec: {}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
`,
		"templates/hooks.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    "helm.sh/hook": pre-install, POST-UPGRADE
    "helm.sh/hook-weight": "-5"
---
apiVersion: v1
kind: Pod
metadata:
  name: test
  annotations: {"helm.sh/hook": test-success}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: never
  annotations: {"helm.sh/hook": "pre-install,someday"}
---
apiVersion: v1
kind: Secret
metadata:
  name: empty-hook
  annotations: {"helm.sh/hook": ""}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: hooked-cm
  annotations: {"helm.sh/hook": post-install}
`,
		"templates/zz-broken.yaml": "{{- if .Values.broken }}\nkind: [unclosed\n{{- end }}\n",
		"templates/aa-kind.yaml":   "{{- if eq (toString .Values.extra) \"wrong\" }}\nkind: [1, 2]\nmetadata: {name: x}\n{{- end }}\n",
	})
}

// writeChart writes a chart's files (by path inside the chart) to a new directory.
func writeChart(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTemplateIsHelmsInstall: the engine's template answers what Helm's Install
// answers (the same text, or an error with the same words) for every chart the
// engine and the suites use and for edge charts, with values that render and
// values that fail, and the same again once its sort heads are remembered.
func TestTemplateIsHelmsInstall(t *testing.T) {
	c, err := newCluster("", true)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(c, nil)
	type setting struct {
		chart, name string
		values      map[string]any
	}
	var settings []setting
	for _, pattern := range []string{"../../../charts/*", "../../../tests/charts/*", "../../../tests/e2e/charts/*"} {
		dirs, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range dirs {
			if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err == nil {
				settings = append(settings, setting{dir, "web", map[string]any{}})
			}
		}
	}
	if len(settings) < 10 {
		t.Fatalf("found only %d charts", len(settings))
	}
	edge, old := edgeChart(t, ""), edgeChart(t, "kubeVersion: '<1.20.0'\n")
	settings = append(settings,
		setting{siteChart, "blog", siteValues},
		setting{siteChart, "blog", map[string]any{"domain": "other.example.com", "adminEmail": "a@example.com"}},
		setting{siteChart, "Not_A_Name", siteValues},
		setting{umbrellaChart, "diff", umbrellaSettings[1].values},
		setting{umbrellaChart, "diff", umbrellaSettings[2].values},
		setting{renderChart, "web", map[string]any{"owner": "ann", "image": map[string]any{"tag": "1"}}},
		setting{renderChart, "web", map[string]any{"owner": "ann", "image": map[string]any{"tag": "1"}, "mode": "fail"}},
		setting{renderChart, "web", map[string]any{"owner": "ann"}},
		setting{edge, "edge", map[string]any{}},
		setting{edge, "edge", map[string]any{"extra": 2}},
		setting{edge, "edge", map[string]any{"broken": true}},
		setting{edge, "edge", map[string]any{"extra": "wrong"}},
		setting{old, "edge", map[string]any{}},
	)
	outcomes := map[bool]int{}
	for round := range 2 { // parsed, then remembered
		for _, s := range settings {
			ch, err := loader.Load(s.chart)
			if err != nil {
				t.Fatal(err)
			}
			want, wantErr := installTemplate(ch, s.name, "default", s.values)
			ch, _ = loader.Load(s.chart) // Install rewrote the first copy's dependencies
			got, gotErr := e.template(context.Background(), ch, s.name, "default", s.values, false)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("round %d, %s %v: template failed with %v, Install with %v", round, s.chart, s.values, gotErr, wantErr)
			} else if got != want {
				t.Errorf("round %d, %s %v: template printed\n%s\nInstall printed\n%s", round, s.chart, s.values, got, want)
			}
			outcomes[wantErr == nil]++
		}
	}
	if outcomes[true] == 0 || outcomes[false] < 2*6 {
		t.Errorf("the settings reach too few outcomes: %v", outcomes)
	}
}

// TestSortDocumentsIsHelms: the engine's sort orders and classifies documents
// as releaseutil.SortManifests does, on twenty thousand random template
// outputs made of the kinds Helm orders and others, hooks known, unknown and
// mixed, partials, blank files and documents that do not parse.
func TestSortDocumentsIsHelms(t *testing.T) {
	c, err := newCluster("", true)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(c, nil)
	random := rand.New(rand.NewPCG(1, 2))
	kinds := []string{"Deployment", "Service", "Namespace", "ConfigMap", "Widget", "Gadget", "CustomResourceDefinition", ""}
	hooks := []string{"", "pre-install", "post-install,pre-upgrade", "test-success", "Test", "someday", "pre-install, nope", " "}
	documentOf := func(n int) string {
		switch random.IntN(12) {
		case 0:
			return "kind: [unclosed\n"
		case 1:
			return "# a comment only\n"
		}
		doc := fmt.Sprintf("apiVersion: v1\nkind: %s\nmetadata:\n  name: d%d\n", kinds[random.IntN(len(kinds))], n)
		if hook := hooks[random.IntN(len(hooks)+2)%len(hooks)]; random.IntN(3) == 0 {
			doc += fmt.Sprintf("  annotations:\n    helm.sh/hook: %q\n", hook)
		}
		return doc
	}
	names := []string{"templates/a.yaml", "templates/b.yaml", "templates/_p.tpl", "sub/templates/c.yaml", "templates/z.yaml"}
	errors := 0
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler)) // Helm logs every unknown hook it skips
	for round := range 20_000 {
		files := map[string]string{}
		for _, name := range names {
			if random.IntN(3) == 0 {
				continue
			}
			var parts []string
			for range random.IntN(4) {
				parts = append(parts, documentOf(round))
			}
			files[name] = strings.Join(parts, "---\n") + strings.Repeat("\n", random.IntN(2))
		}
		wantHooks, wantManifests, wantErr := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
		gotManifests, gotHooks, gotErr := e.sortDocuments(files)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("files %q: sortDocuments failed with %v, SortManifests with %v", files, gotErr, wantErr)
		}
		if wantErr != nil {
			errors++
			continue
		}
		var want, got []string
		for _, m := range wantManifests {
			want = append(want, m.Name+"\x00"+m.Content)
		}
		for _, h := range wantHooks {
			want = append(want, "hook "+h.Path+"\x00"+h.Manifest)
		}
		for _, m := range gotManifests {
			got = append(got, m.path+"\x00"+m.content)
		}
		for _, h := range gotHooks {
			got = append(got, "hook "+h.path+"\x00"+h.content)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("files %q:\nsortDocuments %q\nSortManifests %q", files, got, want)
		}
	}
	if errors == 0 || errors > 18_000 {
		t.Errorf("%d of the random outputs failed to parse", errors)
	}
}
