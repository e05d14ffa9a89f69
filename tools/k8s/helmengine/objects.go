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

// Bounds of what is remembered by document text (identities, sort heads): the
// texts kept as keys add up to at most maxHeadBytes (then every one is
// forgotten at once), and a document longer than maxHeadDocument is read each
// time, never kept.
const (
	maxHeadBytes    = 4 << 20
	maxHeadDocument = 64 << 10
)

// byText remembers a reading of rendered documents (read) by the document's
// text. The reading depends on nothing else, so an answer remembered is the
// answer it would give again; what is saved is a YAML parse for every document
// a render prints as an earlier one did. A changed spec of an existing object
// changes a few of its documents (the others hit); a new object changes them
// all (its name is in each).
type byText[V any] struct {
	read func(document string) V

	mu    sync.Mutex
	known map[string]V
	bytes int
}

func (m *byText[V]) lookup(document string) V {
	m.mu.Lock()
	found, known := m.known[document]
	m.mu.Unlock()
	if known {
		return found
	}
	answer := m.read(document)
	if len(document) > maxHeadDocument {
		return answer
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known == nil || m.bytes+len(document) > maxHeadBytes {
		m.known, m.bytes = map[string]V{}, 0
	}
	if _, known := m.known[document]; !known {
		// a copy: the document is a slice of the whole manifest, which it would keep alive
		m.known[strings.Clone(document)] = answer
		m.bytes += len(document)
	}
	return answer
}

// headRead is readHead's answer, as the identities remember it.
type headRead struct {
	head objectHead
	ok   bool
}

func newHeads() *byText[headRead] {
	return &byText[headRead]{read: func(document string) headRead {
		head, ok := readHead(document)
		return headRead{head, ok}
	}}
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
