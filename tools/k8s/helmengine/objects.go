package main

import (
	"strings"
	"sync"
	"unicode"

	"go.yaml.in/yaml/v2"
)

// objectHead is what the engine reads of each rendered document: the object's
// identity. Decoding it straight from YAML builds these four strings and nothing
// else; sigs.k8s.io/yaml, which this replaced here, builds the whole document as
// a map, encodes it to JSON and decodes that again, about three times the CPU
// for a typical Deployment. Helm's own sort has parsed the same documents once
// already, but keeps no namespace, so its result cannot serve.
//
// Same YAML library (go.yaml.in/yaml/v2, under sigs.k8s.io/yaml too), same
// answers for every document Kubernetes can apply. Only documents no API server
// accepts can read differently: keys are matched exactly, as the API server
// matches them (sigs.k8s.io/yaml went through encoding/json, which also took
// `Kind:` for `kind:`), and a number or boolean where a name belongs is read as
// written (`name: 0x1F`) where the JSON detour printed its value (`31`).
type objectHead struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
}

// readHead decodes one document's identity; false when the document is not an
// object (empty, a comment, a scalar, or YAML that does not parse).
func readHead(document string) (objectHead, bool) {
	var head objectHead
	if err := yaml.Unmarshal([]byte(document), &head); err != nil || head.Kind == "" {
		return objectHead{}, false
	}
	return head, true
}

// Bounds of the identities remembered by document text: the texts kept as keys
// add up to at most maxHeadBytes (then every one is forgotten at once), and a
// document longer than maxHeadDocument is read each time, never kept.
const (
	maxHeadBytes    = 4 << 20
	maxHeadDocument = 64 << 10
)

// heads remembers readHead's answer by the document's text. readHead depends on
// nothing else, so an answer remembered is the answer it would give again; what
// is saved is a YAML parse for every document a render prints as an earlier one
// did. A changed spec of an existing object changes a few of its documents (the
// others hit); a new object changes them all (its name is in each).
type heads struct {
	mu    sync.Mutex
	read  map[string]headRead
	bytes int
}

type headRead struct {
	head objectHead
	ok   bool
}

func (h *heads) lookup(document string) (objectHead, bool) {
	h.mu.Lock()
	found, known := h.read[document]
	h.mu.Unlock()
	if known {
		return found.head, found.ok
	}
	head, ok := readHead(document)
	if len(document) > maxHeadDocument {
		return head, ok
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.read == nil || h.bytes+len(document) > maxHeadBytes {
		h.read, h.bytes = map[string]headRead{}, 0
	}
	if _, known := h.read[document]; !known {
		// a copy: the document is a slice of the whole manifest, which it would keep alive
		h.read[strings.Clone(document)] = headRead{head, ok}
		h.bytes += len(document)
	}
	return head, ok
}

// splitDocuments is Helm's releaseutil.SplitManifests as an ordered list: the
// documents of a manifest, cut at every line that starts with `---` (the spaces
// and tabs after it go with the separator), blank ones left out, each with its
// leading white space trimmed. Helm's regular expression (`(?m)^---[ \t]*`) and
// its map of numbered names cost about 6% of an admission render for the
// site chart; a scan for line starts gives the same documents in the same order
// (TestSplitDocumentsIsHelms compares the two on crafted and random manifests).
func splitDocuments(manifest string) []string {
	text := strings.TrimLeftFunc(manifest, unicode.IsSpace)
	var documents []string
	keep := func(document string) {
		if strings.TrimSpace(document) != "" {
			documents = append(documents, strings.TrimLeftFunc(document, unicode.IsSpace))
		}
	}
	start := 0 // where the current document starts
	for line := 0; line < len(text); {
		if strings.HasPrefix(text[line:], "---") {
			keep(text[start:line])
			end := line + len("---")
			for end < len(text) && (text[end] == ' ' || text[end] == '\t') {
				end++
			}
			start, line = end, end
		}
		next := strings.IndexByte(text[line:], '\n')
		if next < 0 {
			break
		}
		line += next + 1
	}
	keep(text[start:])
	return documents
}
