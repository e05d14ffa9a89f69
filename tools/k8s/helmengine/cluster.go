package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// A kind that is not found triggers at most one discovery refresh per interval,
// so a chart naming a kind that does not exist cannot turn every call into a
// full discovery of the cluster.
const rediscoverInterval = 5 * time.Second

// cluster is what every action against the API server shares: one REST
// configuration, one in-memory discovery cache, one REST mapper and the
// cluster's capabilities, all built once and refreshed only when a kind is not
// found. A process per call does this discovery from scratch every time.
type cluster struct {
	config    *rest.Config // nil: no cluster (render only)
	discovery discovery.CachedDiscoveryInterface
	mapper    *refreshingMapper

	mu           sync.Mutex
	capabilities *common.Capabilities
	getters      map[string]*restGetter // by impersonated user ("" = our own identity)
}

func newCluster(kubeconfig string, noCluster bool) (*cluster, error) {
	c := &cluster{getters: map[string]*restGetter{}}
	if noCluster {
		return c, nil
	}
	config, err := loadConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	if config == nil {
		return c, nil
	}
	// Every action builds fresh clients with their own rate limiter; the API
	// server's priority and fairness is the limit that matters.
	config.QPS = 500
	config.Burst = 1000
	client, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	c.config = config
	c.discovery = memory.NewMemCacheClient(client)
	c.mapper = &refreshingMapper{
		inner:     restmapper.NewDeferredDiscoveryRESTMapper(c.discovery),
		onRefresh: c.forgetCapabilities,
	}
	c.mapper.discovery = c.discovery
	return c, nil
}

// loadConfig reads a kubeconfig file, or the in-cluster configuration when none
// is given; nil (no error) when neither exists: the engine then only renders.
func loadConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
		return config, nil
	}
	config, err := rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		return nil, nil
	}
	return config, err
}

func (c *cluster) connected() bool { return c.config != nil }

// getter is the RESTClientGetter for one identity: our own, or a user (a
// ServiceAccount) we impersonate so the API server bounds what the action can do.
// With a confinement, every request it sends (reads by `lookup` included) stays
// in the confinement's namespace and cluster-scoped kinds (see requestScope).
func (c *cluster) getter(impersonate, namespace string, confine *confinement) (*restGetter, error) {
	if c.config == nil {
		return nil, &failure{Code: codeKube, Message: "the engine has no cluster connection"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	base, ok := c.getters[impersonate]
	if !ok {
		config := rest.CopyConfig(c.config)
		config.Impersonate = rest.ImpersonationConfig{UserName: impersonate}
		base = &restGetter{config: config, cluster: c}
		c.getters[impersonate] = base
	}
	getter := &restGetter{config: base.config, cluster: c, namespace: namespace}
	if confine != nil {
		getter.scope = &requestScope{
			namespace: confine.Namespace, clusterScopedKinds: confine.ClusterScopedKinds, mapper: c.mapper,
		}
	}
	return getter, nil
}

func (c *cluster) capabilitiesFor() (*common.Capabilities, error) {
	c.mu.Lock()
	cached := c.capabilities
	c.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	version, err := c.discovery.ServerVersion()
	if err != nil {
		return nil, &failure{Code: codeKube, Message: "server version: " + err.Error()}
	}
	apiVersions, err := action.GetVersionSet(c.discovery)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, &failure{Code: codeKube, Message: "API versions: " + err.Error()}
	}
	capabilities := &common.Capabilities{
		APIVersions: apiVersions,
		KubeVersion: common.KubeVersion{Version: version.GitVersion, Major: version.Major, Minor: version.Minor},
		HelmVersion: common.DefaultCapabilities.HelmVersion,
	}
	c.mu.Lock()
	c.capabilities = capabilities
	c.mu.Unlock()
	return capabilities, nil
}

func (c *cluster) forgetCapabilities() {
	c.mu.Lock()
	c.capabilities = nil
	c.mu.Unlock()
}

// scope says whether a kind is namespaced, as the cluster's REST mapping knows it.
func (c *cluster) scope(gvk schema.GroupVersionKind) string {
	if c.mapper == nil {
		return builtinScope(gvk)
	}
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return builtinScope(gvk)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return scopeNamespaced
	}
	return scopeCluster
}

// restGetter implements genericclioptions.RESTClientGetter over the shared
// discovery cache and REST mapper.
type restGetter struct {
	config    *rest.Config
	cluster   *cluster
	namespace string
	scope     *requestScope // nil: unbounded (status, and actions that send no confinement)
}

var _ genericclioptions.RESTClientGetter = (*restGetter)(nil)

// ToRESTConfig returns a copy: Helm's client factory sets the API path and group
// version on the configuration it is given, and actions run concurrently.
func (g *restGetter) ToRESTConfig() (*rest.Config, error) {
	config := rest.CopyConfig(g.config)
	if g.scope != nil {
		config.Wrap(g.scope.wrap)
	}
	return config, nil
}

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.cluster.discovery, nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.cluster.mapper, nil }

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	overrides := &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}}
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), overrides)
}

// refreshingMapper is a REST mapper over cached discovery that refreshes the
// cache when a kind is not found (a CRD installed since, say), at most once per
// rediscoverInterval, and retries once.
type refreshingMapper struct {
	inner     *restmapper.DeferredDiscoveryRESTMapper
	discovery discovery.CachedDiscoveryInterface
	onRefresh func()

	mu        sync.Mutex
	refreshed time.Time
}

var _ meta.RESTMapper = (*refreshingMapper)(nil)

func (m *refreshingMapper) refresh() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.refreshed) < rediscoverInterval {
		return false
	}
	m.refreshed = time.Now()
	m.discovery.Invalidate()
	m.inner.Reset()
	m.onRefresh()
	return true
}

func retryOnNoMatch[T any](m *refreshingMapper, lookup func() (T, error)) (T, error) {
	value, err := lookup()
	if err != nil && meta.IsNoMatchError(err) && m.refresh() {
		return lookup()
	}
	return value, err
}

func (m *refreshingMapper) KindFor(resource schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	return retryOnNoMatch(m, func() (schema.GroupVersionKind, error) { return m.inner.KindFor(resource) })
}

func (m *refreshingMapper) KindsFor(resource schema.GroupVersionResource) ([]schema.GroupVersionKind, error) {
	return retryOnNoMatch(m, func() ([]schema.GroupVersionKind, error) { return m.inner.KindsFor(resource) })
}

func (m *refreshingMapper) ResourceFor(input schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	return retryOnNoMatch(m, func() (schema.GroupVersionResource, error) { return m.inner.ResourceFor(input) })
}

func (m *refreshingMapper) ResourcesFor(input schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	return retryOnNoMatch(m, func() ([]schema.GroupVersionResource, error) { return m.inner.ResourcesFor(input) })
}

func (m *refreshingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	return retryOnNoMatch(m, func() (*meta.RESTMapping, error) { return m.inner.RESTMapping(gk, versions...) })
}

func (m *refreshingMapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*meta.RESTMapping, error) {
	return retryOnNoMatch(m, func() ([]*meta.RESTMapping, error) { return m.inner.RESTMappings(gk, versions...) })
}

func (m *refreshingMapper) ResourceSingularizer(resource string) (string, error) {
	return m.inner.ResourceSingularizer(resource)
}
