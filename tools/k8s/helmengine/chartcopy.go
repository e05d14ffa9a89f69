package main

import (
	"slices"

	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// copyChart is a copy of a loaded chart that one request may change freely.
// Helm's dependency processing (install, upgrade, render) rewrites the chart it
// is given: it drops disabled subcharts, renames aliased ones, rewrites the
// dependency list in Chart.yaml's metadata and merges imported values into the
// parent's values. The cached chart is never handed out; every request gets its
// own copy, so no request sees what an earlier or a concurrent one asked for.
//
// What Helm rewrites is copied deeply (the chart tree, metadata and its
// dependency entries, values); file contents, which nothing writes, are shared.
func copyChart(original *chart.Chart) *chart.Chart {
	copied := *original
	copied.Metadata = copyMetadata(original.Metadata)
	copied.Values = copyValues(original.Values)
	copied.Templates = slices.Clone(original.Templates)
	copied.Files = slices.Clone(original.Files)
	copied.Raw = slices.Clone(original.Raw)
	copied.SetDependencies() // AddDependency links each copied subchart to this parent
	for _, dependency := range original.Dependencies() {
		copied.AddDependency(copyChart(dependency))
	}
	return &copied
}

func copyMetadata(original *chart.Metadata) *chart.Metadata {
	if original == nil {
		return nil
	}
	copied := *original
	if original.Dependencies != nil {
		copied.Dependencies = make([]*chart.Dependency, len(original.Dependencies))
		for i, dependency := range original.Dependencies {
			if dependency == nil {
				continue
			}
			entry := *dependency
			entry.Tags = slices.Clone(dependency.Tags)
			entry.ImportValues = copyList(dependency.ImportValues)
			copied.Dependencies[i] = &entry
		}
	}
	return &copied
}

// copyValues copies values as YAML loads them: maps and lists are copied,
// scalars (strings, numbers, booleans, nil) are immutable and shared.
func copyValues(original map[string]any) map[string]any {
	if original == nil {
		return nil
	}
	copied := make(map[string]any, len(original))
	for key, value := range original {
		copied[key] = copyValue(value)
	}
	return copied
}

func copyList(original []any) []any {
	if original == nil {
		return nil
	}
	copied := make([]any, len(original))
	for i, value := range original {
		copied[i] = copyValue(value)
	}
	return copied
}

func copyValue(value any) any {
	switch typed := value.(type) {
	case map[string]any:
		return copyValues(typed)
	case []any:
		return copyList(typed)
	case map[string]string:
		copied := make(map[string]string, len(typed))
		for key, entry := range typed {
			copied[key] = entry
		}
		return copied
	default:
		return value
	}
}
