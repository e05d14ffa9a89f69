package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/kube"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

const (
	scopeNamespaced = "namespaced"
	scopeCluster    = "cluster"
	scopeUnknown    = "unknown"
)

// confinement is the caller's rule for what a release may write: objects in
// Namespace (or namespaced objects with no namespace, which Helm puts there),
// and cluster-scoped objects only of the listed kinds. The caller decides the
// rule; the engine only applies it to exactly what Helm is about to send.
type confinement struct {
	Namespace          string   `json:"namespace"`
	ClusterScopedKinds []string `json:"clusterScopedKinds"`
}

// object is one rendered or released Kubernetes object, as a fact.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Scope      string `json:"scope"`
}

type violation struct {
	Object object `json:"object"`
	Rule   string `json:"rule"`
}

func (c *confinement) check(obj object) *violation {
	if c == nil {
		return nil
	}
	switch {
	case obj.Scope == scopeCluster && !slices.Contains(c.ClusterScopedKinds, obj.Kind):
		return &violation{obj, fmt.Sprintf("%s is cluster-scoped, and this binding allows no cluster-scoped %s objects", obj.Kind, obj.Kind)}
	case obj.Scope != scopeCluster && obj.Namespace != "" && obj.Namespace != c.Namespace:
		return &violation{obj, fmt.Sprintf("it is in namespace %q; a release may only write to its own namespace %q", obj.Namespace, c.Namespace)}
	}
	return nil
}

func refusal(violations []violation) error {
	if len(violations) == 0 {
		return nil
	}
	lines := make([]string, 0, len(violations))
	for _, v := range violations {
		lines = append(lines, fmt.Sprintf("%s %s/%s: %s", v.Object.Kind, v.Object.Namespace, v.Object.Name, v.Rule))
	}
	return &failure{Code: codeConfinement, Message: strings.Join(lines, "; "), Violations: violations}
}

// actionClient is Helm's kube client with two changes: it skips the per-action
// reachability probe (the shared connection is known), and every object Helm
// builds to send to the API server (manifest, hooks, CRDs from crds/) passes the
// confinement first. Build is the one door every applied object goes through,
// so this sees exactly what is applied, with the REST mapping's real scope.
type actionClient struct {
	*kube.Client
	confine *confinement

	mu         sync.Mutex
	violations []violation
}

func (*actionClient) IsReachable() error { return nil }

func (c *actionClient) Build(reader io.Reader, validate bool) (kube.ResourceList, error) {
	resources, err := c.Client.Build(reader, validate)
	if err != nil || c.confine == nil {
		return resources, err
	}
	var found []violation
	for _, info := range resources {
		obj := object{Kind: info.Mapping.GroupVersionKind.Kind, APIVersion: info.Mapping.GroupVersionKind.GroupVersion().String(),
			Namespace: info.Namespace, Name: info.Name, Scope: scopeNamespaced}
		if info.Mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			obj.Scope = scopeCluster
		}
		if v := c.confine.check(obj); v != nil {
			found = append(found, *v)
		}
	}
	if len(found) == 0 {
		return resources, nil
	}
	c.mu.Lock()
	c.violations = append(c.violations, found...)
	c.mu.Unlock()
	return nil, refusal(found)
}

func (c *actionClient) refusal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return refusal(c.violations)
}

// manifestObjects lists the objects of a manifest stream, with the namespace
// Helm gives a namespaced object that names none.
func (e *engine) manifestObjects(manifest, namespace string) []object {
	objects := []object{}
	documents := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(documents))
	for key := range documents {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if releaseutil.BySplitManifestsOrder([]string{a, b}).Less(0, 1) {
			return -1
		}
		return 1
	})
	for _, key := range keys {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(documents[key]), &head); err != nil || head.Kind == "" {
			continue
		}
		gvk := schema.FromAPIVersionAndKind(head.APIVersion, head.Kind)
		obj := object{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name,
			Namespace: head.Metadata.Namespace, Scope: e.cluster.scope(gvk)}
		if obj.Scope == scopeCluster {
			obj.Namespace = ""
		} else if obj.Namespace == "" {
			obj.Namespace = namespace
		}
		objects = append(objects, obj)
	}
	return objects
}

// builtinScope knows the cluster-scoped kinds of Kubernetes itself, for when
// there is no cluster to ask (admission renders without one). Anything else is
// unknown here and is judged again, exactly, when it is applied.
func builtinScope(gvk schema.GroupVersionKind) string {
	if slices.Contains(builtinClusterScoped[gvk.Group], gvk.Kind) {
		return scopeCluster
	}
	if _, known := builtinClusterScoped[gvk.Group]; known {
		return scopeNamespaced
	}
	return scopeUnknown
}

var builtinClusterScoped = map[string][]string{
	"":                             {"Namespace", "Node", "PersistentVolume", "ComponentStatus"},
	"apps":                         nil,
	"batch":                        nil,
	"autoscaling":                  nil,
	"policy":                       nil,
	"networking.k8s.io":            {"IngressClass", "IPAddress", "ServiceCIDR"},
	"rbac.authorization.k8s.io":    {"ClusterRole", "ClusterRoleBinding"},
	"storage.k8s.io":               {"StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass"},
	"apiextensions.k8s.io":         {"CustomResourceDefinition"},
	"admissionregistration.k8s.io": {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"},
	"apiregistration.k8s.io":       {"APIService"},
	"scheduling.k8s.io":            {"PriorityClass"},
	"node.k8s.io":                  {"RuntimeClass"},
	"certificates.k8s.io":          {"CertificateSigningRequest", "ClusterTrustBundle"},
	"flowcontrol.apiserver.k8s.io": {"FlowSchema", "PriorityLevelConfiguration"},
	"resource.k8s.io":              {"DeviceClass", "ResourceSlice"},
	"discovery.k8s.io":             nil,
	"coordination.k8s.io":          nil,
	"events.k8s.io":                nil,
}
