package embedded

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// NATSContextFile is the file in the data directory that holds the address
// and the generated credentials of the embedded nats-server when it listens.
// It is a nats CLI context: `nats --context DATA_DIR/nats-context.json ...`.
const NATSContextFile = "nats-context.json"

// natsUser is the one user of the embedded nats-server.
const natsUser = "intake"

// NATSContext is the embedded nats-server's address and credentials, in the
// JSON format of a nats CLI context.
type NATSContext struct {
	Description string `json:"description"`
	URL         string `json:"url"`
	User        string `json:"user"`
	Password    string `json:"password"`
}

// URLWithCredentials is the URL with user and password in it, the form
// --nats-url (INTAKE_NATS_URL) of other intake processes takes.
func (c NATSContext) URLWithCredentials() (string, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", fmt.Errorf("nats context url %q: %w", c.URL, err)
	}
	u.User = url.UserPassword(c.User, c.Password)
	return u.String(), nil
}

// ReadNATSContext reads the NATS context file of a data directory.
func ReadNATSContext(dataDir string) (NATSContext, error) {
	file := filepath.Join(dataDir, NATSContextFile)
	data, err := os.ReadFile(file)
	if err != nil {
		return NATSContext{}, fmt.Errorf("embedded nats credentials: %w", err)
	}
	var c NATSContext
	if err := json.Unmarshal(data, &c); err != nil {
		return NATSContext{}, fmt.Errorf("embedded nats credentials %s: %w (remove the file to generate new ones)", file, err)
	}
	if c.User == "" || c.Password == "" {
		return NATSContext{}, fmt.Errorf("embedded nats credentials %s: no user or password (remove the file to generate new ones)", file)
	}
	return c, nil
}

// natsCredentials returns the credentials kept in the data directory, or new
// random ones when there are none yet. They are reused on restart, so other
// processes configured with them keep working.
func natsCredentials(dataDir string) (NATSContext, error) {
	c, err := ReadNATSContext(dataDir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return NATSContext{}, fmt.Errorf("embedded nats credentials: %w", err)
	}
	return NATSContext{
		Description: "Intake's embedded nats-server (written by intake serve; keep it private)",
		User:        natsUser,
		Password:    base64.RawURLEncoding.EncodeToString(secret), // URL-safe: fits in --nats-url as is
	}, nil
}

// writeNATSContext replaces the context file atomically, readable by its
// owner only.
func writeNATSContext(dataDir string, c NATSContext) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("embedded nats credentials: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".nats-context-*") // created 0600
	if err != nil {
		return fmt.Errorf("embedded nats credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("embedded nats credentials: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("embedded nats credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("embedded nats credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("embedded nats credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dataDir, NATSContextFile)); err != nil {
		return fmt.Errorf("embedded nats credentials: %w", err)
	}
	return nil
}
