package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	rcommon "helm.sh/helm/v4/pkg/release/common"
)

// Each case provokes the error from Helm itself (an action over in-memory
// storage and the fake kube client), so a Helm upgrade that changes an error
// Helm reports only as text fails here, not in a cluster.

func TestClassifyPendingReleaseFromHelm(t *testing.T) {
	cfg, _ := memoryConfiguration(t, "tenant")
	if err := cfg.Releases.Create(testRelease(1, rcommon.StatusPendingInstall, "")); err != nil {
		t.Fatal(err)
	}
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = "tenant"
	_, err := upgrade.RunWithContext(context.Background(), "site", inlineChart("kind: ConfigMap\n"), map[string]any{})
	if got := classify(err, codeHelm); got.Code != codePending {
		t.Fatalf("an upgrade over a pending release: code %s (%v)", got.Code, err)
	}
}

func TestClassifyMissingReleaseFromHelm(t *testing.T) {
	cfg, _ := memoryConfiguration(t, "tenant")
	_, err := action.NewStatus(cfg).Run("absent")
	if got := classify(err, codeKube); got.Code != codeNotFound {
		t.Fatalf("status of an absent release: code %s (%v)", got.Code, err)
	}
	records, err := history(cfg, "absent")
	if err != nil || records != nil {
		t.Fatalf("the history of an absent release is empty, not an error: %v %v", records, err)
	}
}

func TestClassifyTemplateFailuresFromHelm(t *testing.T) {
	templates := map[string]string{
		"fail":        `{{ fail "replicas must be odd" }}`,
		"required":    `{{ required "image.tag is required" .Values.image }}`,
		"nil pointer": `{{ .Values.image.tag }}`,
		"parse":       "{{ if }}\n",
	}
	for name, template := range templates {
		cfg, _ := memoryConfiguration(t, "tenant")
		install := action.NewInstall(cfg)
		install.DryRunStrategy = action.DryRunClient
		install.ReleaseName, install.Namespace = "site", "tenant"
		_, err := install.RunWithContext(context.Background(), inlineChart(template), map[string]any{})
		if err == nil {
			t.Fatalf("%s: the template rendered", name)
		}
		// upgrade's fallback is helm: a template failure must still be told apart
		if got := classify(err, codeHelm); got.Code != codeRender {
			t.Errorf("%s: code %s (%v)", name, got.Code, err)
		}
	}
}

func TestClassifyTimeoutFromHelm(t *testing.T) {
	cfg, _ := memoryConfiguration(t, "tenant")
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = "site", "tenant"
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := install.RunWithContext(ctx, inlineChart("kind: ConfigMap\n"), map[string]any{})
	if got := classify(err, codeHelm); got.Code != codeTimeout {
		t.Fatalf("an install past its deadline: code %s (%v)", got.Code, err)
	}
	wrapped := fmt.Errorf("waiting for resources: %w", context.DeadlineExceeded)
	if got := classify(wrapped, codeHelm); got.Code != codeTimeout {
		t.Fatalf("a wrapped deadline: code %s", got.Code)
	}
}

func TestClassifyKeepsTheEnginesOwnCodes(t *testing.T) {
	confined := fmt.Errorf("upgrade: %w", &failure{Code: codeConfinement, Message: "Secret other/x: outside"})
	if got := classify(confined, codeHelm); got.Code != codeConfinement || got.Message != "Secret other/x: outside" {
		t.Errorf("a confinement refusal: %+v", got)
	}
	forged := fmt.Errorf("reading: %w", &unverifiedRecord{Name: "site", Revision: 2, Verdict: recordInvalid})
	if got := classify(forged, codeKube); got.Code != codeUnverified {
		t.Errorf("an unverified record: %+v", got)
	}
	if got := classify(errors.New("connection refused"), codeKube); got.Code != codeKube {
		t.Errorf("an unrecognised error takes the operation's fallback: %+v", got)
	}
}
