package main

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// The chart the e2e tests render with `helm template`: a conditional child, an
// aliased copy of it switched by condition or tag, a grandchild, import-values.
const conditionalChart = "../../../tests/e2e/charts/conditional"

// renderNames renders the conditional chart through the engine's cache and
// lists the names of the objects rendered.
func renderNames(e *engine, values map[string]any) ([]string, error) {
	out, err := e.render(&request{
		Chart:   chartRef{Path: conditionalChart, Digest: "conditional"},
		Release: "shop", Namespace: "default", Values: values,
	})
	if err != nil {
		return nil, fmt.Errorf("render %v: %w", values, err)
	}
	var names []string
	for _, obj := range out.(renderResult).Objects {
		names = append(names, obj.Name)
	}
	slices.Sort(names)
	return names, nil
}

var subchartSettings = []struct {
	values map[string]any
	names  []string
}{
	{map[string]any{}, []string{"shop-parent"}},
	{map[string]any{"worker": map[string]any{"enabled": true}}, []string{"shop-parent", "shop-worker"}},
	{
		map[string]any{"worker": map[string]any{"enabled": true, "sidecar": map[string]any{"enabled": true}}},
		[]string{"shop-parent", "shop-sidecar-sidecar", "shop-worker"},
	},
	{
		map[string]any{"tags": map[string]any{"jobs": true}, "batch": map[string]any{"enabled": nil}},
		[]string{"shop-batch", "shop-parent"},
	},
}

func TestRendersLeaveTheCachedChartAsLoaded(t *testing.T) {
	c, err := newCluster("", true)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(c, nil)
	for round := range 2 {
		for _, setting := range subchartSettings {
			got, err := renderNames(e, setting.values)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, setting.names) {
				t.Errorf("round %d, values %v: rendered %v, want %v", round, setting.values, got, setting.names)
			}
		}
	}
	fresh, err := loader.Load(conditionalChart)
	if err != nil {
		t.Fatal(err)
	}
	for _, cached := range e.charts {
		if !reflect.DeepEqual(cached.chart, fresh) {
			t.Error("the cached chart differs from the chart as loaded")
		}
	}
}

func TestConcurrentRendersSeeOnlyTheirOwnValues(t *testing.T) {
	c, err := newCluster("", true)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(c, nil)
	var wg sync.WaitGroup
	failures := make(chan string, 64)
	for i := range 64 {
		setting := subchartSettings[i%len(subchartSettings)]
		wg.Go(func() {
			got, err := renderNames(e, setting.values)
			if err != nil {
				failures <- err.Error()
			} else if !slices.Equal(got, setting.names) {
				failures <- fmt.Sprintf("values %v: rendered %v, want %v", setting.values, got, setting.names)
			}
		})
	}
	wg.Wait()
	close(failures)
	for failure := range failures {
		t.Error(failure)
	}
}
