package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// signatureLabel holds a release record's HMAC. It is a release label, so
// Helm's Secrets driver stores it on the record's Secret with the others.
const signatureLabel = "lostromos.dev/record-signature"

// signatureHexChars is what fits a label value (63 characters): 240 of the
// HMAC-SHA256's 256 bits.
const signatureHexChars = 60

// Verdicts on one stored record.
const (
	recordSigned   = "signed"   // its signature verifies under our key
	recordUnsigned = "unsigned" // it carries no signature (made by an earlier lostromos or by someone else)
	recordInvalid  = "invalid"  // it carries a signature that does not verify, or sits in another namespace
)

// recordKey is the secret the controller holds; the engine signs every record
// it writes with it and refuses any record that does not verify.
type recordKey []byte

func readRecordKey(path string) (recordKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("record key: %w", err)
	}
	key := []byte(strings.TrimSpace(string(data)))
	if len(key) < 32 {
		return nil, fmt.Errorf("record key %s: %d bytes, want at least 32", path, len(key))
	}
	return key, nil
}

// canonicalRecord is the release as Helm stores it, after one JSON round trip:
// what is signed at write time is then byte for byte what a read decodes.
func canonicalRecord(rls *release.Release) ([]byte, error) {
	first, err := json.Marshal(rls)
	if err != nil {
		return nil, err
	}
	var again release.Release
	if err := json.Unmarshal(first, &again); err != nil {
		return nil, err
	}
	return json.Marshal(&again)
}

// customLabels are the labels a record's writer chose (the owner labels), not
// the ones Helm's driver sets itself and not the signature.
func customLabels(labels map[string]string) map[string]string {
	custom := map[string]string{}
	for key, value := range labels {
		if key == signatureLabel || slices.Contains(driver.GetSystemLabels(), key) {
			continue
		}
		custom[key] = value
	}
	return custom
}

// sign is the HMAC over everything a record decides: the stored release
// payload (manifest, hooks, status, chart, values), its name, namespace and
// revision, and the owner labels.
func (k recordKey) sign(rls *release.Release) (string, error) {
	payload, err := canonicalRecord(rls)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k)
	fmt.Fprintf(mac, "lostromos-release-record/v1\n%s\n%s\n%d\n", rls.Namespace, rls.Name, rls.Version)
	labels := customLabels(rls.Labels)
	keys := make([]string, 0, len(labels))
	for key := range labels {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		fmt.Fprintf(mac, "%s=%s\n", key, labels[key])
	}
	mac.Write([]byte{0})
	mac.Write(payload)
	return hex.EncodeToString(mac.Sum(nil))[:signatureHexChars], nil
}

// verdict judges one record read from storage in namespace.
func (k recordKey) verdict(rls *release.Release, namespace string) string {
	given, signed := rls.Labels[signatureLabel]
	if rls.Namespace != namespace {
		return recordInvalid // a record copied in from elsewhere, signed or not
	}
	if !signed {
		return recordUnsigned
	}
	want, err := k.sign(rls)
	if err != nil || !hmac.Equal([]byte(given), []byte(want)) {
		return recordInvalid
	}
	return recordSigned
}

// unverifiedRecord is a read that met a record the engine will not act on.
type unverifiedRecord struct {
	Name     string
	Revision int
	Verdict  string
}

func (u *unverifiedRecord) Error() string {
	return fmt.Sprintf("release %s revision %d is %s: its record was not written by this lostromos "+
		"(or was changed since), so no action uses it", u.Name, u.Revision, u.Verdict)
}

// signingDriver is Helm's storage driver for one namespace with a signature
// on every record written through it and a check on every record read: an
// action that meets a record not signed with our key fails before it acts,
// so a forged or edited record can never steer one.
type signingDriver struct {
	driver.Driver
	key       recordKey
	namespace string
}

func (d *signingDriver) signed(rel ri.Releaser) (*release.Release, error) {
	rls, err := asRelease(rel)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for key, value := range rls.Labels {
		if key != signatureLabel {
			labels[key] = value
		}
	}
	rls.Labels = labels
	signature, err := d.key.sign(rls)
	if err != nil {
		return nil, fmt.Errorf("signing release record: %w", err)
	}
	rls.Labels[signatureLabel] = signature
	return rls, nil
}

func (d *signingDriver) Create(key string, rel ri.Releaser) error {
	rls, err := d.signed(rel)
	if err != nil {
		return err
	}
	return d.Driver.Create(key, rls)
}

func (d *signingDriver) Update(key string, rel ri.Releaser) error {
	rls, err := d.signed(rel)
	if err != nil {
		return err
	}
	return d.Driver.Update(key, rls)
}

func (d *signingDriver) check(rel ri.Releaser) error {
	rls, err := asRelease(rel)
	if err != nil {
		return err
	}
	if verdict := d.key.verdict(rls, d.namespace); verdict != recordSigned {
		return &unverifiedRecord{Name: rls.Name, Revision: rls.Version, Verdict: verdict}
	}
	return nil
}

func (d *signingDriver) Get(key string) (ri.Releaser, error) {
	rel, err := d.Driver.Get(key)
	if err != nil {
		return nil, err
	}
	if err := d.check(rel); err != nil {
		return nil, err
	}
	return rel, nil
}

func (d *signingDriver) List(filter func(ri.Releaser) bool) ([]ri.Releaser, error) {
	return d.all(d.Driver.List(filter))
}

func (d *signingDriver) Query(labels map[string]string) ([]ri.Releaser, error) {
	return d.all(d.Driver.Query(labels))
}

func (d *signingDriver) all(rels []ri.Releaser, err error) ([]ri.Releaser, error) {
	if err != nil {
		return rels, err
	}
	for _, rel := range rels {
		if err := d.check(rel); err != nil {
			return nil, err
		}
	}
	return rels, nil
}

// recordHistory is every stored record of one release, each with its verdict,
// read past the signing driver (status and adopt judge records; they do not
// act on them).
type recordHistory struct {
	records  []*release.Release
	verdicts []string
}

func readHistory(raw driver.Driver, key recordKey, namespace, name string) (*recordHistory, error) {
	found, err := raw.Query(map[string]string{"name": name, "owner": "helm"})
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return &recordHistory{}, nil
	}
	if err != nil {
		return nil, err
	}
	history := &recordHistory{}
	for _, item := range found {
		rls, err := asRelease(item)
		if err != nil {
			return nil, err
		}
		history.records = append(history.records, rls)
	}
	sort.Slice(history.records, func(i, j int) bool { return history.records[i].Version < history.records[j].Version })
	for _, rls := range history.records {
		verdict := recordSigned
		if key != nil {
			verdict = key.verdict(rls, namespace)
		}
		history.verdicts = append(history.verdicts, verdict)
	}
	return history, nil
}

func (h *recordHistory) newest() *release.Release {
	if len(h.records) == 0 {
		return nil
	}
	return h.records[len(h.records)-1]
}

// state is the verdict on the whole history: signed when every record is,
// unsigned when none is (a release from before signing, or not ours at all),
// and otherwise an error naming the first record that breaks the rule. A
// history that mixes signed and unsigned records has had a record added or
// changed by someone else.
func (h *recordHistory) state() (string, error) {
	signed, unsigned := 0, 0
	for i, verdict := range h.verdicts {
		switch verdict {
		case recordSigned:
			signed++
		case recordUnsigned:
			unsigned++
		default:
			return "", &unverifiedRecord{Name: h.records[i].Name, Revision: h.records[i].Version, Verdict: verdict}
		}
	}
	if signed > 0 && unsigned > 0 {
		for i, verdict := range h.verdicts {
			if verdict == recordUnsigned {
				return "", &unverifiedRecord{Name: h.records[i].Name, Revision: h.records[i].Version,
					Verdict: "unsigned among signed records"}
			}
		}
	}
	if unsigned > 0 {
		return recordUnsigned, nil
	}
	return recordSigned, nil
}

// recordDigest names one record's content, so adopt signs exactly the record
// the caller judged and not one swapped in since.
func recordDigest(rls *release.Release) string {
	payload, err := canonicalRecord(rls)
	if err != nil {
		return ""
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\n%s\n%s\n", rls.Namespace, rls.Name, strconv.Itoa(rls.Version))
	labels := customLabels(rls.Labels)
	keys := make([]string, 0, len(labels))
	for key := range labels {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		fmt.Fprintf(sum, "%s=%s\n", key, labels[key])
	}
	sum.Write(payload)
	return "sha256:" + hex.EncodeToString(sum.Sum(nil))
}
