package main

import (
	"strings"
	"testing"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
)

func TestPreflightRefusesARecordNamingOtherNamespacesOrClusterKinds(t *testing.T) {
	e := newEngine(&cluster{}, nil)
	confine := &confinement{Namespace: "tenant"}
	inside := testRelease(1, rcommon.StatusDeployed, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n")
	if err := e.preflight([]*release.Release{inside}, confine); err != nil {
		t.Fatalf("a record inside its namespace: %v", err)
	}
	forged := testRelease(1, rcommon.StatusDeployed, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n"+
		"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: planted\n  namespace: kube-system\n"+
		"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: escalate\n")
	forged.Hooks = []*release.Hook{{Manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: h\n  namespace: other\n"}}
	err := e.preflight([]*release.Release{inside, forged}, confine)
	if err == nil {
		t.Fatal("a record naming objects outside must be refused")
	}
	f := err.(*failure)
	if f.Code != codeConfinement || len(f.Violations) != 3 {
		t.Fatalf("code %s, %d violations: %s", f.Code, len(f.Violations), f.Message)
	}
	for _, want := range []string{"kube-system", "ClusterRoleBinding", "other"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message %q does not name %s", f.Message, want)
		}
	}
}
