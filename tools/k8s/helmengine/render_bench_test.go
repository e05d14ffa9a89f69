package main

import (
	"fmt"
	"maps"
	"testing"
)

// The chart the webhook renders at admission, with the example Site's values.
const siteChart = "../../../charts/site"

var siteValues = map[string]any{"domain": "blog.example.com", "adminEmail": "admin@example.com"}

func siteRender(b *testing.B, e *engine) renderResult {
	b.Helper()
	return siteRenderOf(b, e, siteValues)
}

func siteRenderOf(b *testing.B, e *engine, values map[string]any) renderResult {
	b.Helper()
	out, err := e.render(&request{
		Chart:   chartRef{Path: siteChart, Digest: "site"},
		Release: "blog", Namespace: "default", Values: values, SkipSchemaValidation: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	return out.(renderResult)
}

// BenchmarkRenderSite is one admission render of the site chart: dependency
// processing, Helm's template engine and sort, and the engine's object listing.
// Each render has a domain of its own, as each render admission asks for has a
// spec of its own (a spec judged before is not rendered again): the Deployment
// and the Ingress name it, the other documents read as in the render before.
func BenchmarkRenderSite(b *testing.B) {
	c, err := newCluster("", true)
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(c, nil)
	values := maps.Clone(siteValues)
	number := 0
	for b.Loop() {
		number++
		values["domain"] = fmt.Sprintf("blog-%d.example.com", number)
		siteRenderOf(b, e, values)
	}
}

// BenchmarkManifestObjects is the object listing alone, over the site's manifest.
func BenchmarkManifestObjects(b *testing.B) {
	c, err := newCluster("", true)
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(c, nil)
	manifest := siteRender(b, e).Manifest
	for b.Loop() {
		e.manifestObjects(manifest, "default")
	}
}

// BenchmarkHeadsThroughJSON is the listing's decoding as it was (objects_test.go's
// jsonHead), over the same documents, for comparison with BenchmarkReadHeads.
func BenchmarkHeadsThroughJSON(b *testing.B) {
	benchmarkHeads(b, jsonHead)
}

// BenchmarkReadHeads is the listing's decoding as it is.
func BenchmarkReadHeads(b *testing.B) {
	benchmarkHeads(b, readHead)
}

func benchmarkHeads(b *testing.B, read func(string) (objectHead, bool)) {
	c, err := newCluster("", true)
	if err != nil {
		b.Fatal(err)
	}
	manifest := siteRender(b, newEngine(c, nil)).Manifest
	documents := splitDocuments(manifest)
	for b.Loop() {
		for _, document := range documents {
			read(document)
		}
	}
}
