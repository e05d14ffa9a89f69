package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
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
	if err != nil {
		return resources, err
	}
	if err := c.confined(resources); err != nil {
		return nil, err
	}
	return resources, nil
}

// Create, Update and Delete check again what they are handed, whichever action
// built it: the objects an upgrade or a rollback prunes because the previous
// manifest had them, what an uninstall deletes, what a failed action cleans up.
// A list put together without Build cannot slip past the rule either.
func (c *actionClient) Create(resources kube.ResourceList, options ...kube.ClientCreateOption) (*kube.Result, error) {
	if err := c.confined(resources); err != nil {
		return nil, err
	}
	return c.Client.Create(resources, options...)
}

func (c *actionClient) Update(original, target kube.ResourceList, options ...kube.ClientUpdateOption) (*kube.Result, error) {
	if err := c.confined(append(slices.Clone(original), target...)); err != nil {
		return nil, err
	}
	return c.Client.Update(original, target, options...)
}

func (c *actionClient) Delete(resources kube.ResourceList, policy metav1.DeletionPropagation) (*kube.Result, []error) {
	if err := c.confined(resources); err != nil {
		return nil, []error{err}
	}
	return c.Client.Delete(resources, policy)
}

// confined records and returns the refusal for any object of resources outside
// the confinement; nil when all are inside (or there is no confinement).
func (c *actionClient) confined(resources kube.ResourceList) error {
	if c.confine == nil {
		return nil
	}
	var found []violation
	for _, info := range resources {
		if info == nil || info.Mapping == nil {
			continue
		}
		if v := c.confine.check(infoObject(info)); v != nil {
			found = append(found, *v)
		}
	}
	if len(found) == 0 {
		return nil
	}
	c.mu.Lock()
	c.violations = append(c.violations, found...)
	c.mu.Unlock()
	return refusal(found)
}

func infoObject(info *resource.Info) object {
	gvk := info.Mapping.GroupVersionKind
	obj := object{Kind: gvk.Kind, APIVersion: gvk.GroupVersion().String(),
		Namespace: info.Namespace, Name: info.Name, Scope: scopeNamespaced}
	if info.Mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		obj.Scope = scopeCluster
	}
	return obj
}

// preflight checks every stored revision of a release (manifest and hooks)
// against the confinement before an action starts: rollback and uninstall
// write the release record and run hooks before Helm builds the manifest, so
// a record that names an object outside is refused here, with nothing touched.
func (e *engine) preflight(history []*release.Release, confine *confinement) error {
	if confine == nil {
		return nil
	}
	var found []violation
	for _, rls := range history {
		manifests := []string{rls.Manifest}
		for _, hook := range rls.Hooks {
			manifests = append(manifests, hook.Manifest)
		}
		for _, manifest := range manifests {
			for _, obj := range e.manifestObjects(manifest, rls.Namespace) {
				if v := confine.check(obj); v != nil {
					found = append(found, *v)
				}
			}
		}
	}
	return refusal(found)
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
	for _, document := range splitDocuments(manifest) {
		read := e.heads.lookup(document)
		if !read.ok {
			continue
		}
		head := read.head
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
