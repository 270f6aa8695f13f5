// Package remote connects to a BuildKit daemon: over a unix socket, TCP
// (with TLS), ssh, in a Docker container or a Kubernetes pod, through
// BuildKit's own connection helpers.
//
// Imports: BuildKit's client, the OCI image spec and the standard library;
// no project package.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	// Connection helpers for ssh://, docker-container:// and kube-pod://
	// register themselves with the BuildKit client.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)

// Config addresses a BuildKit daemon.
type Config struct {
	// Address is unix://PATH, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT],
	// docker-container://NAME or kube-pod://POD[?namespace=NS].
	Address string
	// TLS for tcp://: the CA that signs the daemon's certificate, this
	// client's certificate and key, and the name the daemon's certificate
	// is for (default: the address's host). All empty means no TLS.
	TLSCACert, TLSCert, TLSKey, TLSServerName string
}

var schemes = map[string]bool{"unix": true, "tcp": true, "ssh": true, "docker-container": true, "kube-pod": true}

// ErrTLSPair is returned by Connect when only one of the client
// certificate and key is given.
var ErrTLSPair = errors.New("the TLS client certificate and key go together: give both or neither")

// Connect reaches the daemon at cfg.Address and checks that it answers.
func Connect(ctx context.Context, cfg Config) (*client.Client, error) {
	opts, err := clientOpts(cfg)
	if err != nil {
		return nil, err
	}
	c, err := client.New(ctx, cfg.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("builder %s: %w", cfg.Address, err)
	}
	pingCtx, cancel := context.WithTimeoutCause(ctx, 15*time.Second, fmt.Errorf("no answer from %s within 15s", cfg.Address))
	defer cancel()
	if _, err = c.Info(pingCtx); err != nil {
		_ = c.Close()
		if cause := context.Cause(pingCtx); cause != nil {
			err = cause
		}
		return nil, fmt.Errorf("cannot reach the BuildKit daemon at %s: %w", cfg.Address, err)
	}
	return c, nil
}

// clientOpts validates cfg and turns its TLS settings into client options.
func clientOpts(cfg Config) ([]client.ClientOpt, error) {
	u, err := url.Parse(cfg.Address)
	if err != nil || !schemes[u.Scheme] {
		return nil, fmt.Errorf("builder address %q: use unix://PATH, tcp://HOST:PORT, ssh://HOST, docker-container://NAME or kube-pod://POD", cfg.Address)
	}
	if cfg.TLSCACert == "" && cfg.TLSCert == "" && cfg.TLSKey == "" {
		return nil, nil
	}
	if u.Scheme != "tcp" {
		return nil, fmt.Errorf("builder address %q: TLS options apply to tcp:// addresses only", cfg.Address)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, ErrTLSPair
	}
	name := cfg.TLSServerName
	if name == "" {
		name = u.Hostname()
	}
	var opts []client.ClientOpt
	if cfg.TLSCACert != "" {
		opts = append(opts, client.WithServerConfig(name, cfg.TLSCACert))
	} else {
		opts = append(opts, client.WithServerConfigSystem(name))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, client.WithCredentials(cfg.TLSCert, cfg.TLSKey))
	}
	return opts, nil
}

// Platforms lists the platforms the workers of the BuildKit behind c run.
func Platforms(ctx context.Context, c *client.Client) ([]ocispecs.Platform, error) {
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the builder's platforms: %w", err)
	}
	var have []ocispecs.Platform
	for _, w := range workers {
		have = append(have, w.Platforms...)
	}
	return have, nil
}
