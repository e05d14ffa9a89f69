package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// The differential suite's umbrella chart: subcharts switched by conditions and
// tags, a template that recurses through include, and tpl over a file that
// defines and includes a template of its own.
const umbrellaChart = "../../../tests/charts/umbrella"

func renderUmbrella(e *engine, values map[string]any) (string, error) {
	out, err := e.render(&request{
		Chart:   chartRef{Path: umbrellaChart, Digest: "umbrella"},
		Release: "diff", Namespace: "default", Values: values,
	})
	if err != nil {
		return "", err
	}
	return out.(renderResult).Manifest, nil
}

var umbrellaSettings = []struct {
	values    map[string]any
	subcharts string
}{
	{map[string]any{}, "cache,db,metrics"},
	{map[string]any{"db": map[string]any{"enabled": false}, "cache": map[string]any{"enabled": false}}, "metrics"},
	{map[string]any{"replica": map[string]any{"enabled": true}, "tags": map[string]any{"extras": false}}, "cache,db,metrics,replica"},
}

func checkUmbrella(manifest, subcharts string) error {
	for _, line := range []string{
		`countdown: "5 4 3 2 1 liftoff"`,
		`greeting: "defined inside tpl for diff; team web; 3 2 1 liftoff\n"`,
		fmt.Sprintf("subcharts: %q", subcharts),
	} {
		if !strings.Contains(manifest, line+"\n") {
			return fmt.Errorf("no line %s in\n%s", line, manifest)
		}
	}
	return nil
}

func TestTplIncludeAndConditionsRenderPerRequest(t *testing.T) {
	c, err := newCluster("", true)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(c, nil)
	for round := range 2 {
		for _, setting := range umbrellaSettings {
			manifest, err := renderUmbrella(e, setting.values)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkUmbrella(manifest, setting.subcharts); err != nil {
				t.Errorf("round %d, values %v: %v", round, setting.values, err)
			}
		}
	}
	var wg sync.WaitGroup
	failures := make(chan error, 30)
	for i := range 30 {
		setting := umbrellaSettings[i%len(umbrellaSettings)]
		wg.Go(func() {
			manifest, err := renderUmbrella(e, setting.values)
			if err == nil {
				err = checkUmbrella(manifest, setting.subcharts)
			}
			if err != nil {
				failures <- fmt.Errorf("values %v: %w", setting.values, err)
			}
		})
	}
	wg.Wait()
	close(failures)
	for failure := range failures {
		t.Error(failure)
	}
}
