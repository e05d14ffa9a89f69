package main

import (
	"io"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// memoryConfiguration is a Helm action configuration as Helm's own pkg/action
// tests build one: release records in the in-memory storage driver, and the
// fake kube client, which applies nothing.
func memoryConfiguration(t *testing.T, namespace string) (*action.Configuration, *driver.Memory) {
	t.Helper()
	memory := driver.NewMemory()
	memory.SetNamespace(namespace)
	cfg := action.NewConfiguration()
	cfg.Releases = storage.Init(memory)
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard}
	cfg.Capabilities = common.DefaultCapabilities
	return cfg, memory
}

// inlineChart is a chart of one template, built in memory.
func inlineChart(template string) *chart.Chart {
	return &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "site", Version: "0.1.0"},
		Templates: []*common.File{{Name: "templates/object.yaml", Data: []byte(template)}},
	}
}
