package main

import (
	"os"
	"os/exec"
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
