package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cofferhq/coffer/store"
)

// KeyFile and CheckpointsFile are the names, in the data directory, of the
// checkpoint signing key and of the checkpoints written outside the
// database.
const (
	KeyFile         = "audit.key"
	CheckpointsFile = "audit-checkpoints"
)

// Key signs and verifies checkpoints.
type Key struct {
	Signer   note.Signer
	Verifier note.Verifier
	// VerifierKey is the public key in note's text form
	// (name+hash+base64), what "coffer audit key" prints.
	VerifierKey string
}

// LoadOrCreateKey reads the key file in dir, or creates it (mode 0600)
// with a new Ed25519 key named name when there is none. The file holds the
// signer key and the verifier key, one per line. It is written under a
// temporary name and linked into place, so that a process starting at the
// same time reads either no file or the whole of it.
func LoadOrCreateKey(dir, name string) (*Key, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKey(dir, path, name); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create the audit key: %w", err)
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read the audit key: %w", err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		return nil, fmt.Errorf("the audit key file %s must hold the signer key and the verifier key, one per line", path)
	}
	return parseKey(lines[0], lines[1])
}

// createKey writes a new key file at path (ErrExist when one appeared).
func createKey(dir, path, name string) error {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".audit-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(skey + "\n" + vkey + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Link(f.Name(), path)
}

func parseKey(skey, vkey string) (*Key, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if s.Name() != v.Name() || s.KeyHash() != v.KeyHash() {
		return nil, errors.New("audit key: the signer and verifier keys do not match")
	}
	sig, err := s.Sign([]byte("check\n"))
	if err != nil || !v.Verify([]byte("check\n"), sig) {
		return nil, errors.New("audit key: the signer and verifier keys do not match")
	}
	return &Key{Signer: s, Verifier: v, VerifierKey: vkey}, nil
}

// Checkpoint is a signed checkpoint of the log.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// DroppedFrom and DroppedTo are the range [from, to) of entries
	// pruned since the checkpoint before (equal when none).
	DroppedFrom, DroppedTo int64
	Note                   []byte // the signed note
	At                     time.Time
}

// body is the checkpoint's text in the C2SP tlog-checkpoint format: the
// origin, the tree size and the base64 root hash, then an extension line
// naming the entries dropped since the checkpoint before, if any.
func (c *Checkpoint) body() string {
	s := fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	if c.DroppedTo > c.DroppedFrom {
		s += fmt.Sprintf("coffer-dropped %d %d\n", c.DroppedFrom, c.DroppedTo)
	}
	return s
}

// OpenCheckpoint checks a signed checkpoint note with the key's verifier
// and parses it.
func OpenCheckpoint(msg []byte, k *Key) (*Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(k.Verifier))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, errors.New("not a checkpoint: fewer than three lines")
	}
	c := &Checkpoint{Origin: lines[0], Note: msg}
	if c.Size, err = strconv.ParseInt(lines[1], 10, 64); err != nil || c.Size < 0 {
		return nil, fmt.Errorf("not a checkpoint: bad tree size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != len(c.Root) {
		return nil, fmt.Errorf("not a checkpoint: bad root hash %q", lines[2])
	}
	copy(c.Root[:], root)
	for _, ext := range lines[3:] {
		if _, err := fmt.Sscanf(ext, "coffer-dropped %d %d", &c.DroppedFrom, &c.DroppedTo); err != nil {
			return nil, fmt.Errorf("not a checkpoint: unknown line %q", ext)
		}
	}
	if c.body() != n.Text {
		return nil, errors.New("not a checkpoint: not in canonical form")
	}
	return c, nil
}

// Sink receives each new checkpoint outside the database: the
// checkpoints file and the server log.
type Sink struct {
	Dir    string       // directory of the checkpoints file
	Logger *slog.Logger // nil: no log line
}

// write appends the signed note to the checkpoints file (followed by a
// blank line, so notes stay apart) and syncs it, then logs it.
func (s Sink) write(c *Checkpoint) error {
	f, err := os.OpenFile(filepath.Join(s.Dir, CheckpointsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(append([]byte(nil), c.Note...), '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if s.Logger != nil {
		s.Logger.Info("audit checkpoint", "size", c.Size, "root", base64.StdEncoding.EncodeToString(c.Root[:]),
			"dropped_from", c.DroppedFrom, "dropped_to", c.DroppedTo, "note", string(c.Note))
	}
	return nil
}

// ReadCheckpointsFile returns the signed notes of the checkpoints file in
// dir, oldest first (none when there is no file).
func ReadCheckpointsFile(dir string) ([][]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, CheckpointsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// A note is its text, a blank line, its signature lines; notes are
	// separated by one more blank line. Neither part holds a blank line.
	parts := bytes.Split(b, []byte("\n\n"))
	var out [][]byte
	for i := 0; i+1 < len(parts); i += 2 {
		sigs := bytes.TrimSuffix(parts[i+1], []byte("\n"))
		out = append(out, []byte(string(parts[i])+"\n\n"+string(sigs)+"\n"))
	}
	if len(parts)%2 == 0 || len(bytes.TrimSpace(parts[len(parts)-1])) != 0 {
		return out, fmt.Errorf("%s: the last checkpoint is incomplete", CheckpointsFile)
	}
	return out, nil
}

// Checkpoint signs a checkpoint of the log as it is now with k, unless
// the latest checkpoint already covers every entry (then it returns nil,
// nil). The checkpoint is stored in the database, then, once committed,
// written to sink: a checkpoint is written outside only when the entries
// it covers are committed, so the file never holds a checkpoint of a
// log that was rolled back. (A crash between the two leaves the file
// without that checkpoint, which Verify accepts: the file is checked for
// what it holds.)
func (l *Log) Checkpoint(ctx context.Context, k *Key, sink Sink) (*Checkpoint, error) {
	var c *Checkpoint
	err := l.core.Write(ctx, l.core.Inst, "audit.Checkpoint", func(tx *store.WriteTx) error {
		c = nil
		h, err := l.lockHead(ctx, tx)
		if err != nil {
			return err
		}
		last, lastFirst, err := l.lastCheckpoint(ctx, tx)
		if err != nil || h.size == 0 || h.size == last {
			return err
		}
		root, err := tlog.TreeHash(h.size, l.reader(ctx, tx))
		if err != nil {
			return err
		}
		cp := &Checkpoint{Origin: h.origin, Size: h.size, Root: root, DroppedFrom: lastFirst, DroppedTo: h.first, At: l.core.Now().UTC()}
		if cp.Note, err = note.Sign(&note.Note{Text: cp.body()}, k.Signer); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, l.core.Rebind("INSERT INTO "+l.table("audit_checkpoints")+
			" (size, root, note, at, dropped_from, dropped_to) VALUES (?, ?, ?, ?, ?, ?)"),
			cp.Size, root[:], string(cp.Note), cp.At.UnixMicro(), cp.DroppedFrom, cp.DroppedTo)
		c = cp
		return err
	})
	if err != nil || c == nil {
		return nil, err
	}
	if err := sink.write(c); err != nil {
		return c, fmt.Errorf("the checkpoint of size %d is in the database but could not be written outside it: %w", c.Size, err)
	}
	return c, nil
}

// lastCheckpoint returns the size of the latest checkpoint and the first
// entry kept at its time (0, 0 when there is none).
func (l *Log) lastCheckpoint(ctx context.Context, q Querier) (size, first int64, err error) {
	err = q.QueryRowContext(ctx, "SELECT COALESCE(MAX(size), 0), COALESCE(MAX(dropped_to), 0) FROM "+l.table("audit_checkpoints")).Scan(&size, &first)
	return size, first, err
}

// Checkpoints returns the checkpoints stored in the database, oldest
// first, checked with k.
func (l *Log) Checkpoints(ctx context.Context, q Querier, k *Key) ([]*Checkpoint, error) {
	rows, err := q.QueryContext(ctx, "SELECT size, note, at FROM "+l.table("audit_checkpoints")+" ORDER BY size")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Checkpoint
	for rows.Next() {
		var size, at int64
		var msg string
		if err := rows.Scan(&size, &msg, &at); err != nil {
			return nil, err
		}
		c, err := OpenCheckpoint([]byte(msg), k)
		if err != nil {
			return nil, fmt.Errorf("the checkpoint of size %d in the database: %w", size, err)
		}
		if c.Size != size {
			return nil, fmt.Errorf("the checkpoint stored as size %d says size %d", size, c.Size)
		}
		c.At = store.FromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}
