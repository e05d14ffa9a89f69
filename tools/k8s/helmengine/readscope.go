package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestScope bounds every request an action sends to the API server, reads
// included: a chart's `lookup` (or `tpl` of a value that calls it) goes through
// the same REST configuration as Helm's own calls, and the confinement only
// sees what is written. Whatever identity the engine acts as, a request may
// reach only:
//
//   - the object's namespace (/api/v1/namespaces/<ns>/... and
//     /apis/<group>/<version>/namespaces/<ns>/...), and reading that Namespace;
//   - cluster-scoped resources of the kinds the binding allows;
//   - discovery (/api, /apis, /version, /openapi), read only.
//
// Everything else (another namespace's Secrets, a list across all namespaces,
// a cluster-scoped kind the binding does not name) is answered 403 here,
// without reaching the API server, with a message naming the request.
type requestScope struct {
	namespace          string
	clusterScopedKinds []string
	mapper             meta.RESTMapper // resource -> kind and scope; nil: no cluster-scoped kind passes
}

// refusal says why a request leaves the scope, or "" when it stays inside.
func (s *requestScope) refusal(method, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var group, version string
	var rest []string
	switch {
	case len(parts) >= 1 && parts[0] == "version", len(parts) >= 1 && parts[0] == "openapi":
		return readOnly(method)
	case len(parts) >= 1 && parts[0] == "api":
		if len(parts) <= 2 {
			return readOnly(method) // /api, /api/v1: discovery
		}
		version, rest = parts[1], parts[2:]
	case len(parts) >= 1 && parts[0] == "apis":
		if len(parts) <= 3 {
			return readOnly(method) // /apis, /apis/<group>, /apis/<group>/<version>
		}
		group, version, rest = parts[1], parts[2], parts[3:]
	default:
		return "it is not a Kubernetes API path"
	}
	// /api/v1/namespaces/NAME/status and /finalize are the Namespace object's own.
	namespaceSubresource := group == "" && len(rest) == 3 && (rest[2] == "status" || rest[2] == "finalize")
	if rest[0] == "namespaces" && len(rest) >= 3 && !namespaceSubresource {
		if rest[1] == s.namespace {
			return ""
		}
		return fmt.Sprintf("it is in namespace %q; a release may only read and write its own namespace %q", rest[1], s.namespace)
	}
	if group == "" && rest[0] == "namespaces" && len(rest) == 2 && rest[1] == s.namespace && readOnly(method) == "" {
		return "" // its own Namespace object, read only
	}
	return s.clusterScoped(schema.GroupVersionResource{Group: group, Version: version, Resource: rest[0]})
}

func (s *requestScope) clusterScoped(resource schema.GroupVersionResource) string {
	if s.mapper == nil {
		return fmt.Sprintf("%s is not in namespace %q, and this engine cannot tell its kind", resource.Resource, s.namespace)
	}
	kind, err := s.mapper.KindFor(resource)
	if err != nil {
		return fmt.Sprintf("%s is not in namespace %q and is no kind this cluster serves", resource.Resource, s.namespace)
	}
	mapping, err := s.mapper.RESTMapping(kind.GroupKind(), kind.Version)
	if err != nil || mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return fmt.Sprintf("it reaches %s across all namespaces; a release may only read and write its own namespace %q", kind.Kind, s.namespace)
	}
	if !slices.Contains(s.clusterScopedKinds, kind.Kind) {
		return fmt.Sprintf("%s is cluster-scoped, and this binding allows no cluster-scoped %s objects", kind.Kind, kind.Kind)
	}
	return ""
}

func readOnly(method string) string {
	if method == http.MethodGet || method == http.MethodHead {
		return ""
	}
	return "discovery is read only"
}

// wrap is a rest.Config WrapTransport: refused requests never leave the engine.
func (s *requestScope) wrap(next http.RoundTripper) http.RoundTripper {
	return &scopedTransport{scope: s, next: next}
}

type scopedTransport struct {
	scope *requestScope
	next  http.RoundTripper
}

func (t *scopedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	why := t.scope.refusal(req.Method, req.URL.Path)
	if why == "" {
		return t.next.RoundTrip(req)
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return forbidden(req, fmt.Sprintf("lostromos refused %s %s: %s", req.Method, req.URL.Path, why)), nil
}

// forbidden is the answer the API server gives a request it refuses, so client-go
// and Helm report it as they report any Forbidden: with this message.
func forbidden(req *http.Request, message string) *http.Response {
	body, _ := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"message": message, "reason": "Forbidden", "code": http.StatusForbidden,
	})
	return &http.Response{
		Status:        "403 Forbidden",
		StatusCode:    http.StatusForbidden,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
