package embedded

import (
	"fmt"
	"os"
)

// OwnerOnlyDir creates dir (and its parents) and makes it accessible to its
// owner only (0700): it holds every tenant's data, the broker's generated
// credentials and the database's socket. An existing directory with looser
// permissions (from an older version) is tightened.
func OwnerOnlyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory %s: make it owner-only: %w", dir, err)
		}
	}
	return nil
}
