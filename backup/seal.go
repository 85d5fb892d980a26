package backup

// Sealing: the snapshot key, the sealed image, the authenticated manifest.

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
	"github.com/cofferhq/coffer/keyring"
)

// HKDF infos of the keys derived from a snapshot key.
const (
	infoManifest = "coffer backup manifest v1"
	infoSums     = "coffer backup table sums v1"
)

// Object keys of a snapshot, relative to a location.
func snapshotPrefix(notebook, id string) string {
	return "snapshots/" + dirOf(notebook) + "/" + id + "/"
}
func imageKey(notebook, id string) string    { return snapshotPrefix(notebook, id) + "image" }
func manifestKey(notebook, id string) string { return snapshotPrefix(notebook, id) + "manifest" }

// dirOf is the key segment of notebook's snapshots.
func dirOf(notebook string) string {
	if notebook == "" {
		return InstanceDir
	}
	return notebook
}

// keyAAD is the associated data of a wrapped snapshot key.
func keyAAD(id string) string { return "backup:" + id }

// imageFileID binds the sealed image's chunks to the snapshot.
func imageFileID(id string) string { return "backup image " + id }

// snapKey is a snapshot's key and the keys derived from it.
type snapKey struct {
	key      []byte
	wrapped  []byte
	keyID    string
	mac, sum []byte
}

func deriveKeys(k *snapKey) error {
	var err error
	if k.mac, err = hkdf.Key(sha256.New, k.key, nil, infoManifest, 32); err != nil {
		return err
	}
	k.sum, err = hkdf.Key(sha256.New, k.key, nil, infoSums, 32)
	return err
}

// newKey makes a random snapshot key, sealed by the keyring under
// notebook's scope (the instance's for "").
func (s *Service) newKey(ctx context.Context, notebook, id string) (*snapKey, error) {
	k := &snapKey{key: make([]byte, sealed.KeySize)}
	if _, err := rand.Read(k.key); err != nil {
		return nil, coffer.Internal("backup.key", err)
	}
	var err error
	if k.wrapped, err = s.st.Ring().Seal(ctx, scopeOf(notebook), keyAAD(id), k.key); err != nil {
		return nil, err
	}
	k.keyID = keyring.KeyID(k.wrapped)
	return k, deriveKeys(k)
}

// openKey unwraps a manifest's snapshot key. A destroyed (shredded) key,
// or a wrapped key changed or moved from another snapshot, is EINTEGRITY.
func (s *Service) openKey(ctx context.Context, m *Manifest) (*snapKey, error) {
	key, err := s.st.Ring().Open(ctx, scopeOf(m.Notebook), keyAAD(m.ID), m.WrappedKey)
	if err != nil {
		return nil, err
	}
	if len(key) != sealed.KeySize {
		return nil, integrityErr("the snapshot key has the wrong size")
	}
	k := &snapKey{key: key, wrapped: m.WrappedKey, keyID: keyring.KeyID(m.WrappedKey)}
	return k, deriveKeys(k)
}

func scopeOf(notebook string) string {
	if notebook == "" {
		return keyring.Instance
	}
	return notebook
}

func (k *snapKey) sumHash() func() hash.Hash {
	return func() hash.Hash { return hmac.New(sha256.New, k.sum) }
}

// envelope is the manifest object: the manifest's exact bytes and their MAC.
type envelope struct {
	Manifest json.RawMessage `json:"manifest"`
	MAC      string          `json:"mac"`
}

// encodeManifest returns the manifest object's bytes: m (MAC left out)
// and the hex HMAC-SHA256 of its bytes under the manifest key.
func encodeManifest(m *Manifest, k *snapKey) ([]byte, error) {
	c := *m
	c.MAC = ""
	body, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, k.mac)
	mac.Write(body)
	m.MAC = hex.EncodeToString(mac.Sum(nil))
	return json.Marshal(envelope{Manifest: body, MAC: m.MAC})
}

// parseManifest reads a manifest object without checking it: the wrapped
// key inside is needed to check it (checkManifest).
func parseManifest(data []byte) (*Manifest, *envelope, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, nil, integrityErr("the manifest is not valid JSON")
	}
	var m Manifest
	if err := json.Unmarshal(env.Manifest, &m); err != nil {
		return nil, nil, integrityErr("the manifest is not valid JSON")
	}
	m.MAC = env.MAC
	if m.Format != FormatVersion {
		return nil, nil, integrityErr(fmt.Sprintf("manifest format %d is not %d", m.Format, FormatVersion))
	}
	return &m, &env, nil
}

// checkManifest checks the MAC of a parsed manifest object, and that the
// object's bytes are exactly what encodeManifest writes (no byte of it
// may change, even one JSON decoding would forgive).
func checkManifest(data []byte, env *envelope, k *snapKey) error {
	mac := hmac.New(sha256.New, k.mac)
	mac.Write(env.Manifest)
	want := mac.Sum(nil)
	got, err := hex.DecodeString(env.MAC)
	if err != nil || !hmac.Equal(got, want) {
		return integrityErr("the manifest's MAC does not match")
	}
	again, err := json.Marshal(envelope{Manifest: env.Manifest, MAC: env.MAC})
	if err != nil || !bytes.Equal(again, data) {
		return integrityErr("the manifest object is not in its canonical form")
	}
	return nil
}

// readManifest fetches, parses and checks the manifest of snapshot id of
// notebook in store l, and unwraps its key.
func (s *Service) readManifest(ctx context.Context, l blob.Store, notebook, id string) (*Manifest, *snapKey, error) {
	rc, err := l.Open(ctx, manifestKey(notebook, id), 0, -1)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	rc.Close()
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxManifest {
		return nil, nil, integrityErr("the manifest is too large")
	}
	m, env, err := parseManifest(data)
	if err != nil {
		return nil, nil, err
	}
	if m.ID != id || m.Notebook != notebook {
		return nil, nil, integrityErr("the manifest belongs to another snapshot")
	}
	k, err := s.openKey(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	if err := checkManifest(data, env, k); err != nil {
		return nil, nil, err
	}
	return m, k, nil
}

// maxManifest bounds a manifest object (a million blob entries fit).
const maxManifest = 256 << 20

// errIntegrity is the cause of every integrity failure of a backup.
var errIntegrity = errors.New("backup: integrity check failed")

func integrityErr(msg string) error {
	return &coffer.Error{Code: coffer.EINTEGRITY, Message: "backup integrity check failed: " + msg, Op: "backup", Err: errIntegrity}
}
