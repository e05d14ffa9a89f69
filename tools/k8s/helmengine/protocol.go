package main

// The protocol's answers, as types: every operation answers one of the result
// structs below, or a failure with one of the error codes. lostromos decodes
// them in one place (lostromos/enginewire.py), whose ErrorCode enum mirrors the
// codes; docs/engine.md lists every field.

type response struct {
	ID     int64    `json:"id"`
	OK     bool     `json:"ok"`
	Result any      `json:"result,omitempty"`
	Error  *failure `json:"error,omitempty"`
}

// errorCode is a failure's stable class, what callers branch on.
type errorCode string

// Error codes of protocol version 1.
const (
	codeBadRequest  errorCode = "bad-request" // the request itself is malformed
	codeNotFound    errorCode = "not-found"   // no such release
	codeRender      errorCode = "render"      // the chart cannot render these values
	codeConfinement errorCode = "confinement" // a rendered object is outside the given confinement
	codePending     errorCode = "pending"     // another operation on the release is in progress
	codeTimeout     errorCode = "timeout"     // the action ran out of time
	codeChart       errorCode = "chart"       // the chart cannot be loaded or pulled
	codeKube        errorCode = "kube"        // the API server refused or failed
	codeHelm        errorCode = "helm"        // any other Helm error
	codeUnverified  errorCode = "unverified"  // a release record does not verify under the record key
)

// failure is an error with a stable code callers can branch on.
type failure struct {
	Code       errorCode   `json:"code"`
	Message    string      `json:"message"`
	Violations []violation `json:"violations,omitempty"`
}

func (f *failure) Error() string { return f.Message }

// readyLine is the first line the engine prints on stdout.
type readyLine struct {
	Ready         bool   `json:"ready"`
	Protocol      int    `json:"protocol"`
	Helm          string `json:"helm"`
	Cluster       bool   `json:"cluster"`
	SignedRecords bool   `json:"signedRecords"`
}

// helloResult answers `hello`.
type helloResult struct {
	Protocol int    `json:"protocol"`
	Helm     string `json:"helm"`
	Cluster  bool   `json:"cluster"`
}

// renderResult answers `render`: what `helm template` prints, and the objects in it.
type renderResult struct {
	Manifest string   `json:"manifest"`
	Objects  []object `json:"objects"`
}

// renderVerdict answers `render` with `verdict`: the render succeeded (and
// stayed inside `confine`), and the size of the manifest it printed. Admission
// needs no more, and the manifest is most of what an answer would carry.
type renderVerdict struct {
	ManifestBytes int `json:"manifestBytes"`
}

// releaseResult answers `upgrade`, `status` and `adopt`: one revision of a
// release. The Info fields are absent for a record without Info; Record and
// RecordDigest only come with a record key, from `status`.
type releaseResult struct {
	Name          string            `json:"name"`
	Namespace     string            `json:"namespace"`
	Revision      int               `json:"revision"`
	Labels        map[string]string `json:"labels"`
	Resources     []object          `json:"resources"`
	Status        string            `json:"status,omitempty"`
	Description   string            `json:"description,omitempty"`
	FirstDeployed string            `json:"firstDeployed,omitempty"`
	LastDeployed  string            `json:"lastDeployed,omitempty"`
	Chart         string            `json:"chart,omitempty"`
	ChartVersion  string            `json:"chartVersion,omitempty"`
	Record        string            `json:"record,omitempty"`
	RecordDigest  string            `json:"recordDigest,omitempty"`
}

// pullResult answers `pull`: the archive written and what vouches for it.
type pullResult struct {
	Archive     string   `json:"archive"`
	Digest      string   `json:"digest"`
	SignedBy    []string `json:"signedBy,omitempty"`
	Fingerprint string   `json:"fingerprint,omitempty"`
}

// doneResult answers `uninstall` and `rollback`: nothing but success.
type doneResult struct{}
