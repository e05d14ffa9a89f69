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

// renderTexts are the words of every error Helm's template engine
// (helm.sh/helm/v4/pkg/engine) returns: a template that does not parse or
// execute, `fail` and `required`, a nil pointer (reformatted by Helm into
// `FILE:LINE:COL\n  executing "NAME" at <...>:\n    nil pointer ...`), `tpl`.
var renderTexts = []string{
	"rendering template",
	"parse error at (",
	"parse error in (",
	"execution error at (",
	"execution error in (",
	"cannot parse template",
	"error during tpl function execution",
}

// renderFailure is true for the errors of Helm's template engine.
func renderFailure(message string) bool {
	if strings.HasPrefix(message, "template: ") {
		return true
	}
	if strings.Contains(message, "executing \"") && strings.Contains(message, " at <") {
		return true
	}
	for _, text := range renderTexts {
		if strings.Contains(message, text) {
			return true
		}
	}
	return false
}
