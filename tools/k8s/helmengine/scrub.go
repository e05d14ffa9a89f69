package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// redacted replaces a sensitive value wherever Helm's text quotes it.
const redacted = "<redacted>"

// scrub is text with every one of the caller's sensitive values replaced. The
// caller sends the values of the object's secret paths (sensitivePaths and the
// chart's writeOnly properties) with the request; Helm's errors and log lines
// can quote any value (a chart's `fail`, an API server's field error), so they
// are scrubbed by value, longest first so a value inside another goes too.
func scrub(text string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, redacted)
		}
	}
	return text
}

func longestFirst(secrets []string) []string {
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	return sorted
}

// scrubbingHandler is a log handler that scrubs every message and attribute
// before the next handler sees it: what Helm logs during an action (an
// upgrade's failure, with its error) never carries the request's secrets.
type scrubbingHandler struct {
	next    slog.Handler
	secrets []string
}

func newScrubbingHandler(next slog.Handler, secrets []string) slog.Handler {
	if len(secrets) == 0 {
		return next
	}
	return &scrubbingHandler{next: next, secrets: longestFirst(secrets)}
}

func (h *scrubbingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *scrubbingHandler) Handle(ctx context.Context, record slog.Record) error {
	clean := slog.NewRecord(record.Time, record.Level, scrub(record.Message, h.secrets), record.PC)
	record.Attrs(func(attr slog.Attr) bool {
		clean.AddAttrs(h.attr(attr))
		return true
	})
	return h.next.Handle(ctx, clean)
}

func (h *scrubbingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, 0, len(attrs))
	for _, attr := range attrs {
		clean = append(clean, h.attr(attr))
	}
	return &scrubbingHandler{next: h.next.WithAttrs(clean), secrets: h.secrets}
}

func (h *scrubbingHandler) WithGroup(name string) slog.Handler {
	return &scrubbingHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}

// attr is the attribute as text, scrubbed: an error or any other value is
// formatted first, since its text is what a handler would print.
func (h *scrubbingHandler) attr(attr slog.Attr) slog.Attr {
	value := attr.Value.Resolve()
	switch value.Kind() {
	case slog.KindGroup:
		group := value.Group()
		clean := make([]any, 0, len(group))
		for _, inner := range group {
			clean = append(clean, h.attr(inner))
		}
		return slog.Group(attr.Key, clean...)
	case slog.KindString, slog.KindAny:
		return slog.String(attr.Key, scrub(fmt.Sprint(value.Any()), h.secrets))
	default:
		return attr
	}
}
