package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	releaser "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/rest"
)

// A release's stored history is what rollback and uninstall act on before Helm
// builds anything: the engine reads it through Helm's storage and refuses the
// action when any revision names an object outside the confinement.
func TestWritingActionsRefuseAHistoryNamingOtherNamespaces(t *testing.T) {
	cfg, memory := memoryConfiguration(t, "tenant")
	e := newEngine(&cluster{}, nil)
	confine := &confinement{Namespace: "tenant"}
	inside := testRelease(1, rcommon.StatusSuperseded, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n")
	forged := testRelease(2, rcommon.StatusDeployed, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"+
		"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: planted\n  namespace: kube-system\n")
	for _, rls := range []*release.Release{inside, forged} {
		if err := cfg.Releases.Create(rls); err != nil {
			t.Fatal(err)
		}
	}
	records, err := history(cfg, "site")
	if err != nil || len(records) != 2 {
		t.Fatalf("history: %d records, %v", len(records), err)
	}
	err = e.preflight(records, confine)
	f, ok := err.(*failure)
	if !ok || f.Code != codeConfinement || len(f.Violations) != 1 || f.Violations[0].Object.Namespace != "kube-system" {
		t.Fatalf("a history naming kube-system: %v", err)
	}
	if err := e.preflight([]*release.Release{inside}, confine); err != nil {
		t.Fatalf("a history inside its namespace: %v", err)
	}
	if stored, _ := memory.List(func(releaser.Releaser) bool { return true }); len(stored) != 2 {
		t.Fatalf("the refused action changed the stored history: %d records", len(stored))
	}
}

func info(kind, namespace, name string, scope meta.RESTScope) *resource.Info {
	return &resource.Info{Namespace: namespace, Name: name, Mapping: &meta.RESTMapping{
		GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: kind}, Scope: scope}}
}

// Helm's kube client is the door every create, update and delete goes
// through, whichever action built the list. The client under the door is nil
// here: a list that got past the confinement would crash the test.
func TestKubeClientDoorRefusesObjectsOutsideBeforeSending(t *testing.T) {
	door := &actionClient{confine: &confinement{Namespace: "tenant"}}
	outside := kube.ResourceList{
		info("ConfigMap", "tenant", "web", meta.RESTScopeNamespace),
		info("Secret", "kube-system", "planted", meta.RESTScopeNamespace),
		info("Namespace", "", "kube-system", meta.RESTScopeRoot),
	}
	if _, err := door.Create(outside); err == nil {
		t.Fatal("create outside the namespace was not refused")
	}
	if _, err := door.Update(outside[:1], outside[1:2]); err == nil {
		t.Fatal("an update whose target is outside was not refused")
	}
	if _, errs := door.Delete(outside[2:], metav1.DeletePropagationBackground); len(errs) != 1 {
		t.Fatalf("deleting a Namespace the binding does not allow: %v", errs)
	}
	refused, ok := door.refusal().(*failure)
	if !ok || refused.Code != codeConfinement || len(refused.Violations) != 4 {
		t.Fatalf("the action's refusal: %v", door.refusal())
	}
	for _, v := range refused.Violations {
		if v.Object.Name == "web" {
			t.Errorf("an object inside the namespace was refused: %+v", v)
		}
	}
}

// fakeAPIServer answers discovery of v1 Secrets and 404 to every other
// request, and remembers every path it was sent.
type fakeAPIServer struct {
	mu   sync.Mutex
	seen []string
}

func (s *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, r.URL.Path)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/api/v1" {
		_, _ = w.Write([]byte(`{"kind":"APIResourceList","groupVersion":"v1","resources":[` +
			`{"name":"secrets","singularName":"secret","namespaced":true,"kind":"Secret","verbs":["get","list"]}]}`))
		return
	}
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
}

func (s *fakeAPIServer) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// A template's `lookup` goes through the action's REST configuration: under a
// confinement, a read of another namespace is answered 403 by the engine and
// never reaches the API server, while a read of its own namespace does.
func TestLookupOutsideTheNamespaceNeverLeavesTheEngine(t *testing.T) {
	api := &fakeAPIServer{}
	server := httptest.NewServer(api)
	defer server.Close()
	install := func(template string) error {
		cfg, _ := memoryConfiguration(t, "tenant")
		cfg.RESTClientGetter = &restGetter{config: &rest.Config{Host: server.URL}, cluster: &cluster{}, namespace: "tenant",
			scope: &requestScope{namespace: "tenant", mapper: testMapper()}}
		dryRun := action.NewInstall(cfg)
		dryRun.DryRunStrategy = action.DryRunServer
		dryRun.ReleaseName, dryRun.Namespace = "site", "tenant"
		_, err := dryRun.RunWithContext(context.Background(), inlineChart(template), map[string]any{})
		return err
	}
	if err := install(`{{ $s := lookup "v1" "Secret" "tenant" "own" }}kind: ConfigMap` + "\n"); err != nil {
		t.Fatalf("a lookup in its own namespace: %v", err)
	}
	if !slices.Contains(api.paths(), "/api/v1/namespaces/tenant/secrets/own") {
		t.Fatalf("the lookup in its own namespace never reached the API server: %v", api.paths())
	}
	err := install(`{{ $s := lookup "v1" "Secret" "other" "vault" }}kind: ConfigMap` + "\n")
	if err == nil || !strings.Contains(err.Error(), "lostromos refused GET /api/v1/namespaces/other/secrets/vault") {
		t.Fatalf("a lookup in another namespace: %v", err)
	}
	if got := classify(err, codeHelm); got.Code != codeRender {
		t.Errorf("the refused lookup fails the render: code %s", got.Code)
	}
	for _, path := range api.paths() {
		if strings.Contains(path, "/namespaces/other/") {
			t.Fatalf("the API server was sent %s", path)
		}
	}
}
