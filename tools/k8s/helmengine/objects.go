package main

import (
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
