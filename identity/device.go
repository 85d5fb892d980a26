package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Device cookies (OWASP Authentication Cheat Sheet, "Device cookies"). A
// successful login gives the client a token that says "this browser has
// signed in to this account before": a random nonce and the time it was
// issued, signed with HMAC-SHA256 under a secret of the instance (kept in
// the instance database, so every node shares it) together with the
// account id, so it is worth nothing for another account. The HTTP API
// sets it as a __Host- cookie; API clients may send it in a header.
//
// Failed logins that come with a valid token count against that device
// alone; those without one count against the account's pool of unknown
// clients and their address. An attacker without the password has no
// token, so whatever they do, the owner's known browser keeps its own
// allowance.
const (
	DeviceTokenPrefix  = "cfd_"
	deviceLifetime     = 400 * 24 * time.Hour
	deviceNonceBytes   = 16
	deviceSecretName   = "device_cookie"
	devicePayloadBytes = deviceNonceBytes + 8
)

// deviceAAD is the associated data of the sealed device-cookie key.
const deviceAAD = "instance_secret:" + deviceSecretName

// deviceSecret returns the instance's device-cookie key, making it on
// first use, in tx when tx is not nil (a login's write transaction) or
// else in a transaction of its own. Of two nodes that make one at once,
// the first insert wins and both read it back. It is stored sealed under
// the instance's data key. The key is cached once it is known to be
// committed.
func (s *Service) deviceSecret(ctx context.Context, tx catalog.Querier) ([]byte, error) {
	s.auth.mu.Lock()
	key := s.auth.deviceKey
	s.auth.mu.Unlock()
	if key != nil {
		return key, nil
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	defer clear(fresh)
	get := func(q catalog.Querier, sealed []byte) error {
		if _, err := q.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"instance_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"),
			deviceSecretName, sealed); err != nil {
			return err
		}
		var stored []byte
		if err := q.QueryRowContext(ctx, s.Rebind("SELECT value FROM "+s.Inst.Prefix+"instance_secrets WHERE name = ?"), deviceSecretName).Scan(&stored); err != nil {
			return err
		}
		var err error
		key, err = s.Keys.OpenIn(ctx, q, keyring.Instance, deviceAAD, stored)
		return err
	}
	if tx != nil {
		w, ok := tx.(*store.WriteTx)
		if !ok {
			return nil, coffer.Internal("deviceSecret", errors.New("a new device key needs a write transaction"))
		}
		sealed, err := s.Keys.SealTx(ctx, w, keyring.Instance, deviceAAD, fresh)
		if err != nil {
			return nil, err
		}
		// Not cached: tx may still roll back.
		return key, get(tx, sealed)
	}
	sealed, err := s.Keys.Seal(ctx, keyring.Instance, deviceAAD, fresh)
	if err != nil {
		return nil, err
	}
	if err := s.Write(ctx, s.Inst, "deviceSecret", func(tx *store.WriteTx) error { return get(tx, sealed) }); err != nil {
		return nil, err
	}
	s.auth.mu.Lock()
	s.auth.deviceKey = key
	s.auth.mu.Unlock()
	return key, nil
}

func deviceMAC(key []byte, userID string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("coffer device cookie\x00" + userID + "\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// newDeviceToken issues a device token for the account.
func (s *Service) newDeviceToken(ctx context.Context, tx catalog.Querier, userID string) (string, error) {
	key, err := s.deviceSecret(ctx, tx)
	if err != nil {
		return "", err
	}
	payload := make([]byte, devicePayloadBytes)
	if _, err := rand.Read(payload[:deviceNonceBytes]); err != nil {
		return "", err
	}
	binary.BigEndian.PutUint64(payload[deviceNonceBytes:], uint64(s.NowMicros()))
	return DeviceTokenPrefix + base64.RawURLEncoding.EncodeToString(append(payload, deviceMAC(key, userID, payload)...)), nil
}

// knownDevice returns the id of the client's device token when it is a
// valid, unexpired token of the account, or "". userID "" (an unknown
// e-mail) does the same work and finds nothing.
func (s *Service) knownDevice(ctx context.Context, userID string) (string, error) {
	token := coffer.ClientFrom(ctx).Device
	if token == "" || len(token) > 200 || !strings.HasPrefix(token, DeviceTokenPrefix) {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[len(DeviceTokenPrefix):])
	if err != nil || len(raw) != devicePayloadBytes+sha256.Size {
		return "", nil
	}
	key, err := s.deviceSecret(ctx, nil)
	if err != nil {
		return "", err
	}
	payload, mac := raw[:devicePayloadBytes], raw[devicePayloadBytes:]
	if !hmac.Equal(mac, deviceMAC(key, userID, payload)) || userID == "" {
		return "", nil
	}
	issued := int64(binary.BigEndian.Uint64(payload[deviceNonceBytes:]))
	if now := s.NowMicros(); issued > now || now-issued > deviceLifetime.Microseconds() {
		return "", nil
	}
	return base64.RawURLEncoding.EncodeToString(payload[:deviceNonceBytes]), nil
}
