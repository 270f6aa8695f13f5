package build

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/moby/buildkit/client"

	// Connection helpers for ssh://, docker-container:// and kube-pod://
	// register themselves with the BuildKit client.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)

// RemoteConfig addresses a BuildKit daemon.
type RemoteConfig struct {
	// Address is unix://PATH, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT],
	// docker-container://NAME or kube-pod://POD[?namespace=NS].
	Address string
	// TLS for tcp://: the CA that signs the daemon's certificate, this
	// client's certificate and key, and the name the daemon's certificate
	// is for (default: the address's host). All empty means no TLS.
	TLSCACert, TLSCert, TLSKey, TLSServerName string
}

var remoteSchemes = map[string]bool{"unix": true, "tcp": true, "ssh": true, "docker-container": true, "kube-pod": true}

// Remote is a BuildKit daemon reached over the network or a socket; it
// runs builds through the same client as the embedded Engine.
type Remote struct {
	addr   string
	client *client.Client
}

// Connect reaches the daemon at cfg.Address and checks that it answers.
func Connect(ctx context.Context, cfg RemoteConfig) (*Remote, error) {
	u, err := url.Parse(cfg.Address)
	if err != nil || !remoteSchemes[u.Scheme] {
		return nil, fmt.Errorf("builder address %q: use unix://PATH, tcp://HOST:PORT, ssh://HOST, docker-container://NAME or kube-pod://POD", cfg.Address)
	}
	var opts []client.ClientOpt
	if cfg.TLSCACert != "" || cfg.TLSCert != "" || cfg.TLSKey != "" {
		if u.Scheme != "tcp" {
			return nil, fmt.Errorf("builder address %q: TLS options apply to tcp:// addresses only", cfg.Address)
		}
		if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
			return nil, errors.New("--tlscert and --tlskey go together")
		}
		name := cfg.TLSServerName
		if name == "" {
			name = u.Hostname()
		}
		if cfg.TLSCACert != "" {
			opts = append(opts, client.WithServerConfig(name, cfg.TLSCACert))
		} else {
			opts = append(opts, client.WithServerConfigSystem(name))
		}
		if cfg.TLSCert != "" {
			opts = append(opts, client.WithCredentials(cfg.TLSCert, cfg.TLSKey))
		}
	}
	c, err := client.New(ctx, cfg.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("builder %s: %w", cfg.Address, err)
	}
	pingCtx, cancel := context.WithTimeoutCause(ctx, 15*time.Second, fmt.Errorf("no answer from %s within 15s", cfg.Address))
	defer cancel()
	_, err = c.Info(pingCtx)
	if err != nil {
		_ = c.Close()
		if cause := context.Cause(pingCtx); cause != nil && pingCtx.Err() != nil {
			err = cause
		}
		return nil, fmt.Errorf("cannot reach the BuildKit daemon at %s: %w", cfg.Address, err)
	}
	return &Remote{addr: cfg.Address, client: c}, nil
}

// Client returns the BuildKit client connected to the daemon.
func (r *Remote) Client() *client.Client { return r.client }

// Close closes the connection.
func (r *Remote) Close() error { return r.client.Close() }
