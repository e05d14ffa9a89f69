package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/downloader"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// pullSource is how to reach a chart: Helm's own repository and registry
// options, as `helm pull` takes them on its command line.
type pullSource struct {
	Username              string `json:"username"`
	Password              string `json:"password"`
	CAFile                string `json:"caFile"`
	CertFile              string `json:"certFile"`
	KeyFile               string `json:"keyFile"`
	InsecureSkipTLSVerify bool   `json:"insecureSkipTLSVerify"`
	PlainHTTP             bool   `json:"plainHTTP"`
	// A registry credentials file, as `helm registry login --registry-config` writes.
	RegistryConfig string `json:"registryConfig"`
	// A keyring: when set the chart's provenance file must verify against it.
	Keyring string `json:"keyring"`
	// The most bytes one pull may read from the network (index and archive).
	MaxBytes int64 `json:"maxBytes"`
}

// defaultPullBytes caps a pull when the caller names no cap: Helm's getters
// read a whole response into memory, so the cap is on the connection.
const defaultPullBytes = 128 << 20

// pull is `helm pull`: chart `name` at `version` from an HTTP repository, or
// from an OCI registry when the repository is oci://..., written as an archive
// into destination. It answers the archive's path, the digest that vouches for
// it and, with a keyring, who signed it:
//   - HTTP: the sha256 the repository index records for the archive (or none);
//     comparing it with the archive is the caller's;
//   - OCI: `digest` (the chart's manifest digest, as `helm push` prints it) when
//     the request pins one, which Helm and the registry client have checked;
//     otherwise none, since a tag can be moved.
//
// Unpacking is the caller's.
func (e *engine) pull(req *request) (any, error) {
	if req.Name == "" || req.Repository == "" || req.Version == "" || req.Destination == "" {
		return nil, &failure{Code: codeBadRequest, Message: "repository, name, version and destination are required"}
	}
	if err := os.MkdirAll(req.Destination, 0o700); err != nil {
		return nil, &failure{Code: codeChart, Message: err.Error()}
	}
	source := req.Source
	settings := cli.New()
	settings.RepositoryCache = req.Destination
	settings.ContentCache = filepath.Join(req.Destination, ".content")
	transport, err := cappedTransport(source)
	if err != nil {
		return nil, &failure{Code: codeChart, Message: err.Error()}
	}
	options := []getter.Option{
		getter.WithBasicAuth(source.Username, source.Password),
		getter.WithPlainHTTP(source.PlainHTTP),
		getter.WithTransport(transport),
	}
	downloads := downloader.ChartDownloader{
		Out:              io.Discard,
		Verify:           downloader.VerifyNever,
		Keyring:          source.Keyring,
		Getters:          getter.All(settings),
		Options:          options,
		RepositoryConfig: filepath.Join(req.Destination, ".repositories.yaml"),
		RepositoryCache:  settings.RepositoryCache,
		ContentCache:     settings.ContentCache,
	}
	if source.Keyring != "" {
		downloads.Verify = downloader.VerifyAlways
	}
	ref, digest := "", ""
	if registry.IsOCI(req.Repository) {
		client, err := registryClient(source, transport)
		if err != nil {
			return nil, &failure{Code: codeChart, Message: err.Error()}
		}
		downloads.RegistryClient = client
		downloads.Options = append(downloads.Options, getter.WithRegistryClient(client))
		ref = strings.TrimSuffix(req.Repository, "/") + "/" + req.Name
		if req.Digest != "" {
			// Helm checks the tag names this manifest, and the registry's content
			// addressing checks every byte under it.
			ref += "@sha256:" + strings.TrimPrefix(req.Digest, "sha256:")
			digest = req.Digest
		}
	} else {
		entry, err := indexEntry(req, getter.All(settings, getter.WithTransport(transport)))
		if err != nil {
			return nil, &failure{Code: codeChart, Message: err.Error()}
		}
		ref, digest = entry.url, entry.digest
	}
	archive, verification, err := downloads.DownloadTo(ref, req.Version, req.Destination)
	if err != nil {
		return nil, &failure{Code: codeChart, Message: err.Error()}
	}
	result := pullResult{Archive: archive, Digest: strings.TrimPrefix(digest, "sha256:")}
	if source.Keyring != "" && verification != nil && verification.SignedBy != nil {
		signers := []string{}
		for identity := range verification.SignedBy.Identities {
			signers = append(signers, identity)
		}
		result.SignedBy = signers
		result.Fingerprint = fmt.Sprintf("%X", verification.SignedBy.PrimaryKey.Fingerprint)
	}
	return result, nil
}

type chartEntry struct{ url, digest string }

// indexEntry reads the repository's index.yaml as `helm pull --repo` does, and
// keeps the digest it records, which `helm pull` itself drops.
func indexEntry(req *request, getters getter.Providers) (chartEntry, error) {
	source := req.Source
	chartRepo, err := repo.NewChartRepository(&repo.Entry{
		Name:                  "pull",
		URL:                   req.Repository,
		Username:              source.Username,
		Password:              source.Password,
		CertFile:              source.CertFile,
		KeyFile:               source.KeyFile,
		CAFile:                source.CAFile,
		InsecureSkipTLSVerify: source.InsecureSkipTLSVerify,
	}, getters)
	if err != nil {
		return chartEntry{}, err
	}
	chartRepo.CachePath = req.Destination
	indexPath, err := chartRepo.DownloadIndexFile()
	if err != nil {
		return chartEntry{}, fmt.Errorf("%s is not a chart repository or cannot be reached: %w", req.Repository, err)
	}
	defer os.Remove(indexPath)
	index, err := repo.LoadIndexFile(indexPath)
	if err != nil {
		return chartEntry{}, err
	}
	version, err := index.Get(req.Name, req.Version)
	if err != nil {
		known := []string{}
		for _, v := range index.Entries[req.Name] {
			known = append(known, v.Version)
		}
		return chartEntry{}, fmt.Errorf("the repository has no chart %q version %q (versions: %s)",
			req.Name, req.Version, orNone(known))
	}
	if len(version.URLs) == 0 {
		return chartEntry{}, fmt.Errorf("chart %q version %q has no download URL in the index", req.Name, req.Version)
	}
	url, err := repo.ResolveReferenceURL(req.Repository, version.URLs[0])
	if err != nil {
		return chartEntry{}, err
	}
	return chartEntry{url: url, digest: version.Digest}, nil
}

func registryClient(source pullSource, transport *http.Transport) (*registry.Client, error) {
	options := []registry.ClientOption{
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptHTTPClient(&http.Client{Transport: transport}),
	}
	if source.PlainHTTP {
		options = append(options, registry.ClientOptPlainHTTP())
	}
	if source.Username != "" || source.Password != "" {
		options = append(options, registry.ClientOptBasicAuth(source.Username, source.Password))
	}
	if source.RegistryConfig != "" {
		options = append(options, registry.ClientOptCredentialsFile(source.RegistryConfig))
	}
	return registry.NewClient(options...)
}

// cappedTransport is one pull's HTTP transport: the source's TLS settings, and
// connections that fail once the pull has read MaxBytes from the network.
func cappedTransport(source pullSource) (*http.Transport, error) {
	config, err := tlsConfig(source)
	if err != nil {
		return nil, err
	}
	limit := source.MaxBytes
	if limit <= 0 {
		limit = defaultPullBytes
	}
	budget := &readBudget{left: limit, limit: limit}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = config
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	transport.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &cappedConn{Conn: conn, budget: budget}, nil
	}
	return transport, nil
}

type readBudget struct {
	mu          sync.Mutex
	left, limit int64
}

type cappedConn struct {
	net.Conn
	budget *readBudget
}

func (c *cappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.budget.mu.Lock()
	defer c.budget.mu.Unlock()
	c.budget.left -= int64(n)
	if c.budget.left < 0 {
		return 0, fmt.Errorf("the chart source sent more than %d bytes; lostromos reads at most that much", c.budget.limit)
	}
	return n, err
}

func tlsConfig(source pullSource) (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: source.InsecureSkipTLSVerify} //nolint:gosec // the binding asks for it
	if source.CAFile != "" {
		pem, err := os.ReadFile(source.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New(source.CAFile + " holds no PEM certificate")
		}
		config.RootCAs = pool
	}
	if source.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(source.CertFile, source.KeyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

func orNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
