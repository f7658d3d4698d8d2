package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/ids"
)

// serve starts `intake serve` on a fresh data directory, listening for
// HTTP on addr, with args added; stop interrupts it and waits for it.
func serve(bin, dataDir, addr string, args ...string) (cmd *exec.Cmd, stop func(), err error) {
	cmd = exec.Command(bin, append([]string{"serve", "--data-dir", dataDir, "--http-addr", addr, "--log-level", "warn"}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}, nil
}

// operated is `intake serve` on a fresh temporary directory with an
// operator (bootstrap) key, ready: what the fairness and many-tenants runs
// start from, as an operator onboarding tenants would.
type operated struct {
	dir      string // removed by close; the data directory is data
	data     string
	base     string // http://<addr>
	operator *client.REST
	stop     func()
}

// serveOperated starts it.
func serveOperated(bin string) (_ *operated, err error) {
	dir, err := os.MkdirTemp("", "intake-operated-")
	if err != nil {
		return nil, err
	}
	o := &operated{dir: dir, data: filepath.Join(dir, "data"), stop: func() {}}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	key := ids.NewSecret() + ids.NewSecret() // a bootstrap key has at least 32 characters
	if _, o.stop, err = serve(bin, o.data, addr, "--bootstrap-api-key", key); err != nil {
		return nil, err
	}
	o.base = "http://" + addr
	o.operator = client.NewREST(o.base, client.WithAPIKey(key))
	if err := waitReady(o.operator, time.Minute); err != nil {
		return nil, err
	}
	return o, nil
}

// close stops intake and removes the directory.
func (o *operated) close() {
	o.stop()
	_ = os.RemoveAll(o.dir)
}

// tenant creates an API key to import and read imports for tenant (POST
// /v1/keys, as the operator) and returns a client with it.
func (o *operated) tenant(ctx context.Context, tenant string) (*client.REST, error) {
	k, err := o.operator.CreateKey(ctx, client.KeyRequest{Name: "bench", Tenant: tenant, Capabilities: []string{auth.CapImportsWrite, auth.CapImportsRead}})
	if err != nil {
		return nil, fmt.Errorf("key of tenant %s: %w", tenant, err)
	}
	return client.NewREST(o.base, client.WithAPIKey(k.Secret)), nil
}
