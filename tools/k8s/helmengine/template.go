package main

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	helmtemplate "helm.sh/helm/v4/pkg/engine"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	sigsyaml "sigs.k8s.io/yaml"
)

// template is `helm template` for one release: what Helm's Install runs in its
// client-only dry run (no cluster, Helm's default capabilities), step by step
// from Helm's exported parts, in Install's order and with its messages, and
// printed as the helm CLI prints it (manifests in Helm's kind order, then the
// hooks). TestTemplateIsHelmsInstall compares the two on every chart the engine
// is tested with; the differential suite compares the whole answer with the
// pinned helm.
//
// One step differs in cost, not in result. Helm's sort parses every document
// with sigs.k8s.io/yaml on every render, to find its kind and hook annotations:
// a third of a site render, spent mostly on documents a new spec does not
// reach. Here that parse is remembered by the document's text (e.sortHeads),
// and the sort is Helm's (sortDocuments, checked against
// releaseutil.SortManifests by TestSortDocumentsIsHelms).
func (e *engine) template(ctx context.Context, ch *chart.Chart, name, namespace string, values map[string]any, skipSchemaValidation bool) (string, error) {
	if err := chartutil.ValidateReleaseName(name); err != nil {
		return "", fmt.Errorf("release name check failed: release name %q: %w", name, err)
	}
	if err := chartutil.ProcessDependencies(ch, values); err != nil {
		return "", fmt.Errorf("chart dependencies processing failed: %w", err)
	}
	caps := common.DefaultCapabilities.Copy()
	options := common.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}
	renderValues, err := util.ToRenderValuesWithSchemaValidation(ch, values, options, caps, skipSchemaValidation)
	if err != nil {
		return "", err
	}
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	var templates helmtemplate.Engine
	files, err := templates.RenderWithContext(ctx, ch, renderValues)
	if err != nil {
		return "", err
	}
	for file := range files {
		if strings.HasSuffix(file, "NOTES.txt") { // not a resource: Install keeps it apart
			delete(files, file)
		}
	}
	manifests, hooks, err := e.sortDocuments(files)
	if err != nil {
		return "", err
	}
	// Install's manifest (trimmed, as the helm CLI prints it), then the hooks
	return strings.TrimSpace(printed(manifests)) + "\n" + printed(hooks), nil
}

// printed is documents as Helm prints them, each under its template's name.
func printed(documents []document) string {
	var text strings.Builder
	for _, d := range documents {
		fmt.Fprintf(&text, "---\n# Source: %s\n%s\n", d.path, d.content)
	}
	return text.String()
}

// sortHead is what Helm's sort reads of a document: its head, or why the
// document does not parse.
type sortHead struct {
	head releaseutil.SimpleHead
	err  error
}

func newSortHeads() *byText[sortHead] {
	return &byText[sortHead]{read: func(document string) sortHead {
		var head releaseutil.SimpleHead
		err := sigsyaml.Unmarshal([]byte(document), &head)
		return sortHead{head, err}
	}}
}

// document is one rendered document, with the template file it came from.
type document struct {
	path, content, kind string
}

// hookEvents are the hook types Helm knows; a document naming any other is
// left out of the release altogether.
var hookEvents = func() map[string]bool {
	known := map[string]bool{"test-success": true} // Helm 2's name for test
	for _, event := range []release.HookEvent{
		release.HookPreInstall, release.HookPostInstall, release.HookPreDelete, release.HookPostDelete,
		release.HookPreUpgrade, release.HookPostUpgrade, release.HookPreRollback, release.HookPostRollback,
		release.HookTest,
	} {
		known[event.String()] = true
	}
	return known
}()

// sortDocuments is releaseutil.SortManifests (Install's order): the files in
// name order, partials and blank files skipped, each cut into documents; a
// document that does not parse fails the render, one with a hook annotation
// is a hook (left out if it names a hook type Helm does not know), the others
// are manifests; both lists in Helm's kind order.
func (e *engine) sortDocuments(files map[string]string) (manifests, hooks []document, err error) {
	for _, file := range slices.Sorted(maps.Keys(files)) {
		content := files[file]
		if strings.HasPrefix(path.Base(file), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, text := range splitDocuments(content) {
			read := e.sortHeads.lookup(text)
			if read.err != nil {
				return nil, nil, fmt.Errorf("YAML parse error on %s: %w", file, read.err)
			}
			doc := document{path: file, content: text, kind: read.head.Kind}
			switch hookTypes, isHook := hookAnnotation(read.head); {
			case !isHook:
				manifests = append(manifests, doc)
			case knownHooks(hookTypes):
				hooks = append(hooks, doc)
			}
		}
	}
	return sortByKind(manifests), sortByKind(hooks), nil
}

func hookAnnotation(head releaseutil.SimpleHead) (string, bool) {
	if head.Metadata == nil {
		return "", false
	}
	hookTypes, ok := head.Metadata.Annotations[release.HookAnnotation]
	return hookTypes, ok
}

func knownHooks(hookTypes string) bool {
	for hookType := range strings.SplitSeq(hookTypes, ",") {
		if !hookEvents[strings.ToLower(strings.TrimSpace(hookType))] {
			return false
		}
	}
	return true
}

// installOrder is each kind's place in Helm's install order.
var installOrder = func() map[string]int {
	order := make(map[string]int, len(releaseutil.InstallOrder))
	for place, kind := range releaseutil.InstallOrder {
		order[kind] = place
	}
	return order
}()

// sortByKind is Helm's kind sort: known kinds in install order, then unknown
// kinds by name; documents of one kind keep their order.
func sortByKind(documents []document) []document {
	sort.SliceStable(documents, func(i, j int) bool {
		a, aKnown := installOrder[documents[i].kind]
		b, bKnown := installOrder[documents[j].kind]
		switch {
		case !aKnown && !bKnown:
			return documents[i].kind < documents[j].kind
		case !aKnown || !bKnown:
			return aKnown
		}
		return a < b
	})
	return documents
}
