package main

import (
	"context"
	"errors"
	"strings"

	"helm.sh/helm/v4/pkg/storage/driver"
)

// Helm reports these only as text (its pending error is unexported), so they
// are matched by the words Helm uses; classify_test.go provokes each one from
// Helm itself, so an upgrade of Helm that rewords them fails there.
const (
	pendingText  = "another operation (install/upgrade/rollback) is in progress"
	deadlineText = "context deadline exceeded"
)

// classify maps Helm's errors to protocol codes; fallback is the code for
// anything unrecognised in this operation. A failure already classified (by
// the engine itself, or a confinement refusal) keeps its code.
func classify(err error, fallback errorCode) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	var unverified *unverifiedRecord
	if errors.As(err, &unverified) {
		return &failure{Code: codeUnverified, Message: unverified.Error()}
	}
	message := err.Error()
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		return &failure{Code: codeNotFound, Message: message}
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(message, deadlineText):
		return &failure{Code: codeTimeout, Message: message}
	case strings.Contains(message, pendingText):
		return &failure{Code: codePending, Message: message}
	case renderFailure(message):
		return &failure{Code: codeRender, Message: message}
	}
	return &failure{Code: fallback, Message: message}
}

// renderFailure is true for the errors of Helm's template engine: a template
// that does not parse or execute, `fail`, `required`, a nil pointer.
func renderFailure(message string) bool {
	return strings.Contains(message, "rendering template") || strings.HasPrefix(message, "template: ") ||
		strings.Contains(message, "execution error at")
}
