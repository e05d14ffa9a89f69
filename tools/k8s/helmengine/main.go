// Command helmengine is lostromos's long-lived Helm engine: Helm's own library
// (the same pinned helm.sh/helm/v4 module the helm CLI is built from) behind a
// small, versioned request/response protocol on a Unix socket.
//
// It exists so that the controller and the webhook do not start one helm
// process per call: it keeps what a process per call throws away (loaded
// charts by content digest, Kubernetes clients and their connections, the
// discovery/REST mapping, the cluster's capabilities) and it renders charts in
// a few milliseconds for admission.
//
// It holds no product logic. Callers (lostromos, in Python) decide what to
// install, under which name and identity, and what a rendered object may do;
// this program only runs the Helm action it is asked for and reports facts.
//
// Protocol (version 1): newline-delimited JSON on a stream socket. Every
// request is one object on one line, {"id": N, "op": "...", ...}; every answer
// is one line {"id": N, "ok": true, "result": {...}} or {"id": N, "ok": false,
// "error": {"code": "...", "message": "..."}}. A connection carries one request
// at a time; clients open several connections for concurrency. The first line
// the engine prints on stdout is {"ready": true, "protocol": 1, ...}. See
// docs/engine.md for the operations.
//
// The engine exits when its standard input closes (its parent is gone) and
// asks the kernel to kill it if the parent thread dies, so a release left
// pending after a restart is known to be abandoned. It never logs values.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
	"helm.sh/helm/v4/pkg/kube"
)

const protocolVersion = 1

func main() {
	socketPath := flag.String("socket", "", "Unix socket path to serve on (required)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file; empty: in-cluster config, or no cluster (render only)")
	noCluster := flag.Bool("no-cluster", false, "serve render only, never contact a cluster")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	recordKeyFile := flag.String("record-key-file", "", "file holding the key that signs and verifies release records; empty: records are neither signed nor checked")
	flag.Parse()
	// Write as the helm CLI does: Helm names the field manager after the program
	// (helm-engine-<source hash> here), and the drift check tells helm's own
	// writes from everyone else's by the name "helm".
	kube.ManagedFieldsManager = "helm"

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fatal("bad --log-level: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	if *socketPath == "" {
		fatal("--socket is required")
	}
	// Die with the parent: the kernel sends SIGKILL when the thread that
	// started us exits, and a closed stdin means the parent is gone.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()

	cluster, err := newCluster(*kubeconfig, *noCluster)
	if err != nil {
		fatal("%v", err)
	}
	var key recordKey
	if *recordKeyFile != "" {
		if key, err = readRecordKey(*recordKeyFile); err != nil {
			fatal("%v", err)
		}
	}
	_ = os.Remove(*socketPath)
	listener, err := net.Listen("unix", *socketPath)
	if err != nil {
		fatal("listen on %s: %v", *socketPath, err)
	}
	if err := os.Chmod(*socketPath, 0o600); err != nil {
		fatal("chmod %s: %v", *socketPath, err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = listener.Close()
		_ = os.Remove(*socketPath)
		os.Exit(0)
	}()

	ready, _ := json.Marshal(readyLine{
		Ready: true, Protocol: protocolVersion, Helm: helmVersion(), Cluster: cluster.connected(),
		SignedRecords: key != nil,
	})
	fmt.Println(string(ready))
	server := &server{engine: newEngine(cluster, key), log: logger}
	server.serve(listener)
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "helmengine: "+format+"\n", args...)
	os.Exit(2)
}
