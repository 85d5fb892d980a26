package keyring

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// keySize is the size of every key: master keys and data keys.
const keySize = 32

// fileMagic and fileVersion start every key line of a master key file.
const (
	fileMagic   = "coffer-master-key"
	fileVersion = "v1"
)

// fileHeader is written at the top of every master key file, for the
// people who find it.
const fileHeader = `# Coffer master keys. THIS FILE IS A SECRET.
# Whoever holds it and a copy of the database can read everything Coffer
# encrypted; without it, that data (files, TOTP and single sign-on secrets,
# webhook secrets) is lost for good. Keep a copy somewhere safe, apart from
# the database and its backups. Old keys stay here after a rotation: old
# backups need them.
# One key per line: coffer-master-key v1 <id> <created, RFC 3339> <key, base64>.
# The last line is the current key.
`

// masterKey is one master key.
type masterKey struct {
	id      string
	created time.Time
	key     [keySize]byte
}

// Master holds one or more master keys, each with an id; the newest is
// current and wraps new data keys, the older ones still unwrap the data
// keys they wrapped. A Master loaded from a file reads the file again when
// asked for a key id it does not hold (another process, `coffer keys
// rotate`, may have added one). Master keys never enter the database.
type Master struct {
	mu   sync.RWMutex
	keys []masterKey // oldest first; the last is current
	path string      // the file it was read from; "" for memory only
}

// Generate returns a new Master with one random key, in memory only.
func Generate() (*Master, error) {
	k, err := newMasterKey()
	if err != nil {
		return nil, err
	}
	return &Master{keys: []masterKey{k}}, nil
}

var (
	testOnce   sync.Once
	testMaster *Master
)

// ForTests returns one random Master shared by the whole process: tests
// that reopen the same data get the same keys.
func ForTests() *Master {
	testOnce.Do(func() {
		m, err := Generate()
		if err != nil {
			panic(err)
		}
		testMaster = m
	})
	return testMaster
}

// newMasterKey returns a random master key with a random id.
func newMasterKey() (masterKey, error) {
	var k masterKey
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return k, err
	}
	if _, err := rand.Read(k.key[:]); err != nil {
		return k, err
	}
	k.id = "mk" + hex.EncodeToString(id[:])
	k.created = time.Now().UTC().Truncate(time.Second)
	return k, nil
}

// Load reads the master key file at path. A missing file is an error
// naming the path.
func Load(path string) (*Master, error) {
	keys, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return &Master{keys: keys, path: path}, nil
}

// LoadOrCreate reads the master key file at path, or creates it with one
// new key (mode 0600, written whole or not at all) when there is none;
// created reports which.
func LoadOrCreate(path string) (m *Master, created bool, err error) {
	m, err = Load(path)
	if err == nil {
		return m, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err := newMasterKey()
	if err != nil {
		return nil, false, err
	}
	// Link, not rename: of two processes creating the file at once, one
	// wins and the other reads its key.
	if err := writeFile(path, []masterKey{k}, false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			m, err := Load(path)
			return m, false, err
		}
		return nil, false, err
	}
	return &Master{keys: []masterKey{k}, path: path}, true, nil
}

// Path returns the file the keys were read from ("" for memory only).
func (m *Master) Path() string { return m.path }

// Current returns the id of the current master key.
func (m *Master) Current() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.keys[len(m.keys)-1].id
}

// IDs returns the ids of every master key, oldest first.
func (m *Master) IDs() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ids := make([]string, len(m.keys))
	for i, k := range m.keys {
		ids[i] = k.id
	}
	return ids
}

// Has reports whether m holds the master key id (reading the file again
// when it does not).
func (m *Master) Has(id string) bool {
	_, ok := m.key(id)
	return ok
}

// persisted reports whether the file of m (if any) holds the key id.
func (m *Master) persisted(id string) error {
	if m.path == "" {
		return nil
	}
	keys, err := readFile(m.path)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.id == id {
			return nil
		}
	}
	return fmt.Errorf("the master key %s is not in %s (changed meanwhile by another process?)", id, m.path)
}

// current returns the current key.
func (m *Master) current() masterKey {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.keys[len(m.keys)-1]
}

// key returns the master key id. A key not held is looked for again in
// the file, which another process may have added it to.
func (m *Master) key(id string) (*[keySize]byte, bool) {
	m.mu.RLock()
	for i := range m.keys {
		if m.keys[i].id == id {
			k := &m.keys[i].key
			m.mu.RUnlock()
			return k, true
		}
	}
	path := m.path
	m.mu.RUnlock()
	if path == "" {
		return nil, false
	}
	keys, err := readFile(path)
	if err != nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.merge(keys)
	for i := range m.keys {
		if m.keys[i].id == id {
			return &m.keys[i].key, true
		}
	}
	return nil, false
}

// merge adds the keys of keys that m lacks, keeping the file's order, so
// that the file's last key becomes current. Callers hold m.mu.
func (m *Master) merge(keys []masterKey) {
	have := map[string]bool{}
	for _, k := range m.keys {
		have[k.id] = true
	}
	for _, k := range keys {
		if !have[k.id] {
			m.keys = append(m.keys, k)
		}
	}
}

// Add makes a new master key current. A Master read from a file writes
// the file again, whole, with the new key last (old keys kept: old
// backups need them); the file is replaced atomically, mode 0600, under
// an exclusive lock on <file>.lock, so that two processes adding keys at
// once lose neither.
func (m *Master) Add() (id string, err error) {
	k, err := newMasterKey()
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := m.keys
	if m.path != "" {
		unlock, err := lockPath(m.path + ".lock")
		if err != nil {
			return "", fmt.Errorf("master key file %s: lock: %w", m.path, err)
		}
		defer unlock()
		// Keep what another process may have added meanwhile.
		onDisk, err := readFile(m.path)
		if err != nil {
			return "", err
		}
		m.merge(onDisk)
		keys = m.keys
	}
	keys = append(keys[:len(keys):len(keys)], k)
	if m.path != "" {
		if err := writeFile(m.path, keys, true); err != nil {
			return "", err
		}
	}
	m.keys = keys
	return k.id, nil
}

// readFile parses a master key file. Errors name the file and the line,
// never key material.
func readFile(path string) ([]masterKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("master key file %s does not exist: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	var keys []masterKey
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 || f[0] != fileMagic {
			return nil, fmt.Errorf("master key file %s, line %d: not a key line (%s %s <id> <created> <key>)", path, n, fileMagic, fileVersion)
		}
		if f[1] != fileVersion {
			return nil, fmt.Errorf("master key file %s, line %d: unknown format version %q", path, n, f[1])
		}
		var k masterKey
		k.id = f[2]
		if !validMasterID(k.id) {
			return nil, fmt.Errorf("master key file %s, line %d: the key id is not valid", path, n)
		}
		if seen[k.id] {
			return nil, fmt.Errorf("master key file %s, line %d: key id %s appears twice", path, n, k.id)
		}
		seen[k.id] = true
		if k.created, err = time.Parse(time.RFC3339, f[3]); err != nil {
			return nil, fmt.Errorf("master key file %s, line %d: the creation time is not RFC 3339", path, n)
		}
		raw, err := base64.StdEncoding.DecodeString(f[4])
		if err != nil || len(raw) != keySize {
			return nil, fmt.Errorf("master key file %s, line %d: the key is not %d bytes of base64", path, n, keySize)
		}
		copy(k.key[:], raw)
		clear(raw)
		keys = append(keys, k)
	}
	clear(data)
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("master key file %s holds no key", path)
	}
	return keys, nil
}

// validMasterID reports whether id is "mk" and 16 hexadecimal digits.
func validMasterID(id string) bool {
	if len(id) != 18 || !strings.HasPrefix(id, "mk") {
		return false
	}
	_, err := hex.DecodeString(id[2:])
	return err == nil
}

// writeFile writes keys to path: to a temporary file in the same folder
// (mode 0600, synced), then linked (a new file: fails with fs.ErrExist
// when path exists) or renamed (replace) into place, and the folder synced.
func writeFile(path string, keys []masterKey, replace bool) error {
	var b strings.Builder
	b.WriteString(fileHeader)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s %s %s %s\n", fileMagic, fileVersion, k.id, k.created.Format(time.RFC3339), base64.StdEncoding.EncodeToString(k.key[:]))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("master key file %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".master-key-*")
	if err != nil {
		return fmt.Errorf("master key file %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("master key file %s: %w", path, err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("master key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("master key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("master key file %s: %w", path, err)
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("master key file %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
