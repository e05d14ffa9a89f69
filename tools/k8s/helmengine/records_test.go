package main

import (
	"errors"
	"testing"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
)

func testRelease(version int, status rcommon.Status, manifest string) *release.Release {
	return &release.Release{
		Name: "site", Namespace: "tenant", Version: version, Manifest: manifest,
		Info:   &release.Info{Status: status},
		Config: map[string]any{"replicas": 3, "big": 1e21},
		Labels: map[string]string{"lostromos.dev/owner-uid": "u-1"},
	}
}

func signing(t *testing.T) (*signingDriver, *driver.Memory) {
	t.Helper()
	memory := driver.NewMemory()
	memory.SetNamespace("tenant")
	return &signingDriver{Driver: memory, key: recordKey("0123456789abcdef0123456789abcdef"), namespace: "tenant"}, memory
}

func TestSignedRecordReadsBack(t *testing.T) {
	d, _ := signing(t)
	if err := d.Create("sh.helm.release.v1.site.v1", testRelease(1, rcommon.StatusDeployed, "kind: ConfigMap")); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get("sh.helm.release.v1.site.v1")
	if err != nil {
		t.Fatalf("a record the engine signed must verify: %v", err)
	}
	rls, _ := asRelease(got)
	if len(rls.Labels[signatureLabel]) != signatureHexChars {
		t.Fatalf("signature label %q", rls.Labels[signatureLabel])
	}
}

func TestEditedRecordIsRefused(t *testing.T) {
	cases := map[string]func(*release.Release){
		"manifest":  func(r *release.Release) { r.Manifest = "kind: ClusterRoleBinding" },
		"status":    func(r *release.Release) { r.Info.Status = rcommon.StatusPendingUpgrade },
		"owner":     func(r *release.Release) { r.Labels["lostromos.dev/owner-uid"] = "u-2" },
		"namespace": func(r *release.Release) { r.Namespace = "elsewhere" },
		"revision":  func(r *release.Release) { r.Version = 7 },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			d, memory := signing(t)
			if err := d.Create("sh.helm.release.v1.site.v1", testRelease(1, rcommon.StatusDeployed, "kind: ConfigMap")); err != nil {
				t.Fatal(err)
			}
			stored, _ := memory.Get("sh.helm.release.v1.site.v1")
			rls, _ := asRelease(stored)
			edit(rls)
			if rls.Namespace != "tenant" { // a record copied in from another namespace
				if verdict := d.key.verdict(rls, "tenant"); verdict != recordInvalid {
					t.Fatalf("verdict %s", verdict)
				}
				return
			}
			// write it back as a Secret-writer in the namespace would
			if err := memory.Update("sh.helm.release.v1.site.v1", rls); err != nil && rls.Version == 1 {
				t.Fatal(err)
			}
			_, err := d.Query(map[string]string{"name": "site", "owner": "helm"})
			var unverified *unverifiedRecord
			if !errors.As(err, &unverified) {
				t.Fatalf("an edited %s must be refused, got %v", name, err)
			}
		})
	}
}

func TestForgedUnsignedRevisionAmongSignedIsRefused(t *testing.T) {
	d, memory := signing(t)
	if err := d.Create("sh.helm.release.v1.site.v1", testRelease(1, rcommon.StatusDeployed, "kind: ConfigMap")); err != nil {
		t.Fatal(err)
	}
	forged := testRelease(2, rcommon.StatusPendingUpgrade, "kind: ConfigMap")
	if err := memory.Create("sh.helm.release.v1.site.v2", forged); err != nil {
		t.Fatal(err)
	}
	history, err := readHistory(memory, d.key, "tenant", "site")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := history.state(); err == nil {
		t.Fatal("an unsigned revision among signed ones must be refused")
	}
}

func TestUnsignedHistoryIsReportedNotRefused(t *testing.T) {
	d, memory := signing(t)
	if err := memory.Create("sh.helm.release.v1.site.v1", testRelease(1, rcommon.StatusDeployed, "kind: ConfigMap")); err != nil {
		t.Fatal(err)
	}
	history, err := readHistory(memory, d.key, "tenant", "site")
	if err != nil {
		t.Fatal(err)
	}
	if state, err := history.state(); err != nil || state != recordUnsigned {
		t.Fatalf("state %q, %v", state, err)
	}
	if _, err := d.Get("sh.helm.release.v1.site.v1"); err == nil {
		t.Fatal("an action must not read an unsigned record")
	}
}
