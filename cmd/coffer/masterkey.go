package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
)

// masterKeyFile is the master key file's name in the data directory, used
// when COFFER_MASTER_KEY_FILE is not set.
const masterKeyFile = "master.key"

// masterKeyPath returns the master key file of c: COFFER_MASTER_KEY_FILE,
// or master.key in the data directory.
func (c *storeConfig) masterKeyPath() string {
	if c.keyFile != "" {
		return c.keyFile
	}
	return filepath.Join(c.dataDir, masterKeyFile)
}

// openMaster loads the master keys for the instance in b, the one helper
// of every command that opens the store. When the database holds data
// keys, the key file must exist and hold every master key that wraps
// them: otherwise it refuses, naming the file. When it holds none, a
// missing file is created (mode 0600) with a loud warning on stderr.
func openMaster(ctx context.Context, b store.Backend, c *storeConfig, stderr io.Writer) (*keyring.Master, error) {
	if stderr == nil {
		stderr = os.Stderr
	}
	m, err := loadMaster(ctx, b, c, stderr)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(m.Path()); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "WARNING: the master key file %s is readable by others (mode %04o): make it 0600 (chmod 600)\n", m.Path(), fi.Mode().Perm())
	}
	return m, nil
}

// loadMaster is openMaster without the check of the file's mode.
func loadMaster(ctx context.Context, b store.Backend, c *storeConfig, stderr io.Writer) (*keyring.Master, error) {
	path := c.masterKeyPath()
	inst := b.Instance()
	used, err := keyring.MastersInUse(ctx, inst.R, b.Dialect(), inst.Prefix)
	if err != nil {
		return nil, fmt.Errorf("read the data keys: %w", err)
	}
	if len(used) > 0 {
		m, err := keyring.Load(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("refusing to start: the master key file %s does not exist, and this database holds data encrypted under master key %s; "+
					"without that key the encrypted data cannot be read. Restore the key file, or set COFFER_MASTER_KEY_FILE to where it is", path, strings.Join(used, ", "))
			}
			return nil, fmt.Errorf("refusing to start: %w", err)
		}
		var missing []string
		for _, id := range used {
			if !m.Has(id) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("refusing to start: the master key file %s does not hold master key %s, which protects this database's encrypted data. "+
				"Use the key file this data was written with (COFFER_MASTER_KEY_FILE)", path, strings.Join(missing, ", "))
		}
		return m, nil
	}
	m, created, err := keyring.LoadOrCreate(path)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(stderr, "\n"+
			"WARNING: created a new master key file: %s (mode 0600).\n"+
			"WARNING: it encrypts this instance's secrets and files. KEEP A COPY SOMEWHERE SAFE, apart from the\n"+
			"WARNING: database and its backups: without it, everything encrypted is lost for good.\n\n", path)
	}
	return m, nil
}
