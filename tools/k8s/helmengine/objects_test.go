package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/yaml"
)

// jsonHead is how the engine read an object's identity before readHead:
// sigs.k8s.io/yaml, through a map and JSON.
func jsonHead(document string) (objectHead, bool) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(document), &head); err != nil || head.Kind == "" {
		return objectHead{}, false
	}
	found := objectHead{APIVersion: head.APIVersion, Kind: head.Kind}
	found.Metadata.Name, found.Metadata.Namespace = head.Metadata.Name, head.Metadata.Namespace
	return found, true
}

// Documents as templates render them, in every shape YAML allows an object.
var headDocuments = map[string]string{
	"block":     "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  labels:\n    app: web\nspec:\n  replicas: 2\n",
	"flow":      "{apiVersion: v1, kind: ConfigMap, metadata: {name: flow, namespace: 'a'}, data: {k: v}}",
	"quoted":    "\"apiVersion\": \"v1\"\n'kind': 'Secret'\nmetadata:\n  \"name\": \"quoted-name\"\n",
	"anchors":   "base: &meta\n  name: anchored\n  namespace: from-anchor\napiVersion: v1\nkind: Service\nmetadata: *meta\n",
	"merge":     "base: &meta\n  name: merged\napiVersion: v1\nkind: Service\nmetadata:\n  <<: *meta\n  namespace: over\n",
	"comments":  "# Source: chart/templates/x.yaml\n# a comment\napiVersion: v1 # trailing\nkind: ConfigMap\nmetadata:\n  name: commented\n",
	"folded":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: >-\n    folded\ndata:\n  script: |\n    kind: NotMe\n    name: not-me\n",
	"null ns":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: ~\n",
	"no meta":   "apiVersion: v1\nkind: Namespace\n",
	"list":      "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: inner\n",
	"duplicate": "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata:\n  name: twice\n",
	"tabs":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    a: \"tab\\there\"\n",
	"empty":     "",
	"comment":   "# only a comment\n",
	"scalar":    "just a string\n",
	"sequence":  "- a\n- b\n",
	"broken":    "apiVersion: v1\nkind: [ConfigMap\n",
	"no kind":   "apiVersion: v1\nmetadata:\n  name: x\n",
	"bad meta":  "apiVersion: v1\nkind: ConfigMap\nmetadata: a string\n",
}

func TestReadHeadAgreesWithTheJSONDecoding(t *testing.T) {
	for name, document := range headDocuments {
		got, gotOK := readHead(document)
		want, wantOK := jsonHead(document)
		if got != want || gotOK != wantOK {
			t.Errorf("%s: readHead %+v %v, JSON decoding %+v %v", name, got, gotOK, want, wantOK)
		}
	}
	if head, ok := readHead(headDocuments["block"]); !ok || head.Kind != "Deployment" ||
		head.Metadata.Name != "web" || head.Metadata.Namespace != "shop" {
		t.Errorf("block: read %+v %v", head, ok)
	}
}

// The objects the site chart renders, listed from one decoding of each document.
func TestSiteObjectsAreListed(t *testing.T) {
	c, err := newCluster("", true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := newEngine(c, nil).render(&request{
		Chart:   chartRef{Path: siteChart, Digest: "site"},
		Release: "blog", Namespace: "shop", Values: siteValues,
	})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, obj := range out.(renderResult).Objects {
		if obj.Namespace != "shop" || obj.Scope != scopeNamespaced {
			t.Errorf("%s %s: namespace %q, scope %q", obj.Kind, obj.Name, obj.Namespace, obj.Scope)
		}
		listed = append(listed, obj.Kind+"/"+obj.Name)
	}
	slices.Sort(listed)
	want := []string{"ConfigMap/blog", "Deployment/blog", "Ingress/blog", "PersistentVolumeClaim/blog", "Service/blog"}
	if !slices.Equal(listed, want) {
		t.Errorf("listed %v, want %v", listed, want)
	}
}

func TestRememberedHeadsAreWhatReadHeadSays(t *testing.T) {
	h := newHeads()
	long := headDocuments["block"] + "data:\n  padding: \"" + strings.Repeat("x", maxHeadDocument) + "\"\n"
	documents := map[string]string{"too long to keep": long}
	maps.Copy(documents, headDocuments)
	for round := range 2 { // read, then remembered
		for name, document := range documents {
			read := h.lookup(document)
			got, gotOK := read.head, read.ok
			want, wantOK := readHead(document)
			if got != want || gotOK != wantOK {
				t.Errorf("round %d, %s: remembered %+v %v, readHead %+v %v", round, name, got, gotOK, want, wantOK)
			}
		}
	}
	if _, kept := h.known[long]; kept {
		t.Error("a document past maxHeadDocument was kept")
	}
	// a remembered document is not parsed again: no allocation at all
	if allocs := testing.AllocsPerRun(20, func() { h.lookup(headDocuments["block"]) }); allocs != 0 {
		t.Errorf("a remembered document cost %v allocations", allocs)
	}
}

func TestRememberedHeadsStayWithinTheirBound(t *testing.T) {
	h := newHeads()
	for i := range 3 * maxHeadBytes / 1000 {
		document := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  x: %q\n", i, strings.Repeat("y", 900))
		read := h.lookup(document)
		head, ok := read.head, read.ok
		if !ok || head.Metadata.Name != fmt.Sprintf("cm-%d", i) {
			t.Fatalf("document %d read as %+v %v", i, head, ok)
		}
		if h.bytes > maxHeadBytes {
			t.Fatalf("after %d documents %d bytes are kept, past %d", i+1, h.bytes, maxHeadBytes)
		}
	}
	total := 0
	for document := range h.known {
		total += len(document)
	}
	if total != h.bytes {
		t.Errorf("kept %d bytes of documents, counted %d", total, h.bytes)
	}
}

// helmDocuments is Helm's own split, in its numbered order.
func helmDocuments(manifest string) []string {
	split := releaseutil.SplitManifests(manifest)
	var documents []string
	for i := range len(split) {
		documents = append(documents, split[fmt.Sprintf("manifest-%d", i)])
	}
	return documents
}

// TestSplitDocumentsIsHelms: the listing cuts a manifest exactly where Helm's
// releaseutil.SplitManifests does, on manifests written to find the edges
// (separators glued to text, indented, after a carriage return, at the very
// start and end, with tabs and non-ASCII space) and on a hundred thousand random
// ones made of the pieces a separator is recognised by.
func TestSplitDocumentsIsHelms(t *testing.T) {
	crafted := []string{
		"",
		"---",
		"---\n",
		"a: 1",
		"---\na: 1\n---\nb: 2\n",
		"\n\n  ---\na: 1",
		"---apiVersion: v1\nkind: A\n",
		"a: 1\n---   \t b: 2\n--- \n",
		"a: 1\n ---\nb: 2",
		"a: 1\r\n---\r\nb: 2",
		"a: '---'\nb: |\n  ---\n  text\n---\n",
		"a: 1\n----\nb: 2\n-- -\n",
		"\u00a0---\n\u2028a: 1\n---\u00a0b",
		"# Source: site/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n---\n# Source: site/templates/b.yaml\n",
		"\xff---\n\xfe\n---\xff",
	}
	for _, manifest := range crafted {
		if got, want := splitDocuments(manifest), helmDocuments(manifest); !slices.Equal(got, want) {
			t.Errorf("splitDocuments(%q) = %q, Helm's %q", manifest, got, want)
		}
	}
	pieces := []string{"---", "-", "--", "\n", "\r", " ", "\t", "a", "kind: A", "\u00a0", "\n---\n", "#"}
	random := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		var manifest strings.Builder
		for range random.IntN(12) {
			manifest.WriteString(pieces[random.IntN(len(pieces))])
		}
		text := manifest.String()
		if got, want := splitDocuments(text), helmDocuments(text); !slices.Equal(got, want) {
			t.Fatalf("splitDocuments(%q) = %q, Helm's %q", text, got, want)
		}
	}
}

// FuzzSplitDocuments runs the same comparison on whatever `go test -fuzz` finds.
func FuzzSplitDocuments(f *testing.F) {
	f.Add("a: 1\n---\nb: 2\n")
	f.Fuzz(func(t *testing.T, manifest string) {
		if got, want := splitDocuments(manifest), helmDocuments(manifest); !slices.Equal(got, want) {
			t.Fatalf("splitDocuments(%q) = %q, Helm's %q", manifest, got, want)
		}
	})
}
