// Command ociregistry is an OCI distribution registry (the CNCF distribution
// project's own server, the one Helm tests its registry client against), in
// memory, on one address: the registry lostromos's tests push charts to and
// pull them from. It is a test tool and never part of the product.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"golang.org/x/crypto/bcrypt"
)

func main() {
	address := flag.String("address", "127.0.0.1:5000", "host:port to serve plain HTTP on")
	user := flag.String("user", "", "user:password that must log in (default: anyone may push and pull)")
	flag.Parse()

	config := &configuration.Configuration{}
	config.HTTP.Addr = *address
	config.Log.Level = "warn"
	config.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	if *user != "" {
		path, err := htpasswd(*user)
		if err != nil {
			log.Fatal(err)
		}
		config.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "lostromos-test", "path": path}}
	}
	server, err := registry.NewRegistry(context.Background(), config)
	if err != nil {
		log.Fatal(err)
	}
	if err := server.ListenAndServe(); err != nil {
		log.Fatal(err)
	}
}

func htpasswd(user string) (string, error) {
	name, password, ok := strings.Cut(user, ":")
	if !ok {
		return "", fmt.Errorf("--user wants user:password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "ociregistry-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "htpasswd")
	return path, os.WriteFile(path, []byte(name+":"+string(hash)+"\n"), 0o600)
}
