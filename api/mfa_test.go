package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/storetest"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagAT = 0x40 // attested credential data included
)

var b64 = base64.RawURLEncoding

// softAuthenticator is a software passkey: an ECDSA P-256 key that answers
// registration and login ceremonies as a browser and authenticator would,
// with attestation "none".
type softAuthenticator struct {
	tb         testing.TB
	key        *ecdsa.PrivateKey
	id         []byte
	userHandle string // base64url, from the creation options
	origin     string
	rpID       string
	count      uint32
}

func newSoftAuthenticator(tb testing.TB, e *Env) *softAuthenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softAuthenticator{tb: tb, key: key, id: id, origin: strings.Replace(e.URL, "127.0.0.1", "localhost", 1), rpID: "localhost"}
}

// options is the part of WebAuthn options the authenticator reads.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		UserVerification       string `json:"userVerification"`
		AuthenticatorSelection struct {
			UserVerification string `json:"userVerification"`
			ResidentKey      string `json:"residentKey"`
		} `json:"authenticatorSelection"`
	} `json:"publicKey"`
}

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

func (a *softAuthenticator) authData(flags byte, attested []byte) []byte {
	rp := sha256.Sum256([]byte(a.rpID))
	a.count++
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.count)
	return append(out, attested...)
}

// create answers creation options with a new credential.
func (a *softAuthenticator) create(o options, flags byte) map[string]any {
	a.tb.Helper()
	if o.PublicKey.RP.ID != a.rpID {
		a.tb.Fatalf("rp.id = %q, want %q", o.PublicKey.RP.ID, a.rpID)
	}
	a.userHandle = o.PublicKey.User.ID
	// The uncompressed point is 0x04 || X || Y, 32 bytes each on P-256.
	point, err := a.key.PublicKey.Bytes()
	if err != nil {
		a.tb.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1,
		XCoord:        point[1:33],
		YCoord:        point[33:65],
	})
	if err != nil {
		a.tb.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.id)))
	attested = append(append(attested, a.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(flags|flagAT, attested)})
	if err != nil {
		a.tb.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
		}}
}

// get answers request options with an assertion carrying flags.
func (a *softAuthenticator) get(o options, flags byte) map[string]any {
	a.tb.Helper()
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	ad := a.authData(flags, nil)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(ad), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.tb.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        a.userHandle,
		}}
}

func (e *Env) wantMe(key string, mfa bool) {
	e.TB.Helper()
	m := e.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK).Map()
	if m["mfa"] != mfa {
		e.TB.Errorf("me.mfa = %v, want %v", m["mfa"], mfa)
	}
}

func sessionKey(r *Response) string {
	var s struct {
		Key string `json:"session_key"`
	}
	r.JSON(&s)
	return s.Key
}

// passwordLogin logs in and returns the second-factor challenge.
func (e *Env) passwordLogin(email string) (string, []string) {
	e.TB.Helper()
	var ch struct {
		Required  bool     `json:"second_factor_required"`
		Challenge string   `json:"challenge"`
		Methods   []string `json:"methods"`
	}
	e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": testPassword}).WantStatus(http.StatusOK).JSON(&ch)
	if !ch.Required || ch.Challenge == "" {
		e.TB.Fatalf("login of %s: no second-factor challenge", email)
	}
	return ch.Challenge, ch.Methods
}

// enrolTOTP enrols TOTP over HTTP and returns the secret and recovery codes.
func (e *Env) enrolTOTP(key string) (string, []string) {
	e.TB.Helper()
	var en coffer.TOTPEnrolment
	e.Do("POST", "/api/v1/auth/totp", key, map[string]string{"password": testPassword}).WantStatus(http.StatusOK).JSON(&en)
	var rc struct {
		Codes []string `json:"recovery_codes"`
	}
	e.Do("POST", "/api/v1/auth/totp/confirm", key, map[string]string{"code": storetest.TOTPCode(e.TB, en.Secret, e.Clock.Now(), 0)}).
		WantStatus(http.StatusOK).JSON(&rc)
	if len(rc.Codes) != coffer.RecoveryCodeCount {
		e.TB.Fatalf("recovery codes: %d, want %d", len(rc.Codes), coffer.RecoveryCodeCount)
	}
	return en.Secret, rc.Codes
}

func TestTOTPOverHTTP(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("ada@example.com", "Ada")
	key := e.MustLogin("ada@example.com")

	e.Do("POST", "/api/v1/auth/totp", key, map[string]string{"password": "not my password at all"}).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	e.Do("POST", "/api/v1/auth/totp", key, map[string]any{"password": testPassword, "extra": 1}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	secret, codes := e.enrolTOTP(key)
	if m := e.Do("GET", "/api/v1/auth/mfa", key, nil).WantStatus(http.StatusOK).Map(); m["totp"] != true || m["recovery_codes"] != float64(10) {
		t.Errorf("GET /auth/mfa = %v", m)
	}

	second := func(ch, method, code string) *Response {
		return e.Do("POST", "/api/v1/auth/login/second-factor", "", map[string]string{"challenge": ch, "method": method, "code": code})
	}
	ch, methods := e.passwordLogin("ada@example.com")
	if !slices.Equal(methods, []string{coffer.FactorTOTP, coffer.FactorRecovery}) {
		t.Errorf("methods = %v", methods)
	}
	// The confirmation used this step's code: it does not work again.
	used := storetest.TOTPCode(t, secret, e.Clock.Now(), 0)
	second(ch, coffer.FactorTOTP, used).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	e.Clock.Advance(30e9)
	code := storetest.TOTPCode(t, secret, e.Clock.Now(), 0)
	sess := sessionKey(second(ch, coffer.FactorTOTP, code).WantStatus(http.StatusOK))
	e.wantMe(sess, true)

	ch, _ = e.passwordLogin("ada@example.com")
	second(ch, coffer.FactorTOTP, code).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	e.Clock.Advance(90e9)
	second(ch, coffer.FactorTOTP, storetest.TOTPCode(t, secret, e.Clock.Now(), -2)).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	second(ch, coffer.FactorTOTP, storetest.TOTPCode(t, secret, e.Clock.Now(), -1)).WantStatus(http.StatusOK)

	ch, _ = e.passwordLogin("ada@example.com")
	second(ch, coffer.FactorRecovery, codes[0]).WantStatus(http.StatusOK)
	ch, _ = e.passwordLogin("ada@example.com")
	second(ch, coffer.FactorRecovery, codes[0]).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)

	// Disabling needs the password and a code.
	e.Do("POST", "/api/v1/auth/totp/disable", sess, map[string]string{"password": "not my password at all", "code": codes[1]}).
		WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	e.Do("POST", "/api/v1/auth/totp/disable", sess, map[string]string{"password": testPassword, "code": "000000"}).
		WantProblem(http.StatusBadRequest, coffer.EINVALID)
	e.Do("POST", "/api/v1/auth/totp/disable", sess, map[string]string{"password": testPassword, "code": codes[1]}).WantStatus(http.StatusNoContent)
	e.MustLogin("ada@example.com")
}

// TestRequire2FAEnrolment: a member of an organization that requires 2FA
// and has no second factor gets a session that can only enrol one; after
// enrolling, the restriction is gone.
func TestRequire2FAEnrolment(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("grace@example.com", "Grace")
	ctx := context.Background()
	now := e.Clock.Now().UnixMicro()
	if _, err := e.DB.W.ExecContext(ctx, "INSERT INTO organizations (id, name, policy, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
		coffer.NewID(coffer.PrefixOrg), "Navy", `{"require_2fa":true}`, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.W.ExecContext(ctx, "INSERT INTO org_members (org_id, user_id, role, created_at) SELECT id, ?, ?, ? FROM organizations",
		u.ID, coffer.OrgMember, now); err != nil {
		t.Fatal(err)
	}
	var s coffer.Session
	e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": testPassword}).WantStatus(http.StatusOK).JSON(&s)
	if s.Restriction != coffer.RestrictEnrol2FA {
		t.Fatalf("restriction = %q, want %q", s.Restriction, coffer.RestrictEnrol2FA)
	}
	e.Do("GET", "/api/v1/notebooks", s.Key, nil).WantProblem(http.StatusForbidden, coffer.ERESTRICTED)
	e.Do("POST", "/api/v1/auth/recovery-codes", s.Key, map[string]string{"password": testPassword}).WantProblem(http.StatusForbidden, coffer.ERESTRICTED)
	secret, codes := e.enrolTOTP(s.Key)
	e.Do("GET", "/api/v1/notebooks", s.Key, nil).WantStatus(http.StatusOK)
	if m := e.Do("GET", "/api/v1/auth/me", s.Key, nil).WantStatus(http.StatusOK).Map(); m["restriction"] != nil {
		t.Errorf("me.restriction = %v after enrolment", m["restriction"])
	}
	// The last factor of a member who must have 2FA cannot be removed.
	e.Clock.Advance(30e9)
	e.Do("POST", "/api/v1/auth/totp/disable", s.Key, map[string]string{"password": testPassword, "code": storetest.TOTPCode(t, secret, e.Clock.Now(), 0)}).
		WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	_ = codes
}

func TestPasskeys(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("alan@example.com", "Alan")
	key := e.MustLogin("alan@example.com")
	a := newSoftAuthenticator(t, e)

	begin := func() options {
		t.Helper()
		var o options
		e.Do("POST", "/api/v1/auth/passkeys/register/begin", key, map[string]string{"password": testPassword}).WantStatus(http.StatusOK).JSON(&o)
		if o.PublicKey.AuthenticatorSelection.UserVerification != "required" || o.PublicKey.AuthenticatorSelection.ResidentKey != "required" {
			t.Errorf("authenticatorSelection = %+v, want user verification and a resident key required", o.PublicKey.AuthenticatorSelection)
		}
		return o
	}
	e.Do("POST", "/api/v1/auth/passkeys/register/begin", key, map[string]string{"password": "not my password at all"}).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)

	// A credential created without user verification is refused.
	e.Do("POST", "/api/v1/auth/passkeys/register/finish", key, map[string]any{"name": "Laptop", "credential": a.create(begin(), flagUP)}).
		WantProblem(http.StatusBadRequest, coffer.EINVALID)
	// The ceremony is single-use: the same answer again is refused.
	o := begin()
	cred := a.create(o, flagUP|flagUV)
	var reg struct {
		Passkey       coffer.Passkey `json:"passkey"`
		RecoveryCodes []string       `json:"recovery_codes"`
	}
	e.Do("POST", "/api/v1/auth/passkeys/register/finish", key, map[string]any{"name": "Laptop", "credential": cred}).WantStatus(http.StatusCreated).JSON(&reg)
	if reg.Passkey.Name != "Laptop" || len(reg.RecoveryCodes) != 10 {
		t.Errorf("registration = %+v", reg)
	}
	e.Do("POST", "/api/v1/auth/passkeys/register/finish", key, map[string]any{"name": "Again", "credential": cred}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	var list struct {
		Passkeys []coffer.Passkey `json:"passkeys"`
	}
	e.Do("GET", "/api/v1/auth/passkeys", key, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Passkeys) != 1 || list.Passkeys[0].ID != reg.Passkey.ID {
		t.Fatalf("passkeys = %+v", list.Passkeys)
	}

	loginBegin := func(challenge string) options {
		t.Helper()
		var o options
		e.Do("POST", "/api/v1/auth/passkeys/login/begin", "", map[string]string{"challenge": challenge}).WantStatus(http.StatusOK).JSON(&o)
		if o.PublicKey.UserVerification != "required" || o.PublicKey.RPID != "localhost" {
			t.Errorf("request options: userVerification %q, rpId %q", o.PublicKey.UserVerification, o.PublicKey.RPID)
		}
		return o
	}
	finish := func(challenge string, cred map[string]any) *Response {
		return e.Do("POST", "/api/v1/auth/passkeys/login/finish", "", map[string]any{"challenge": challenge, "credential": cred})
	}

	t.Run("SecondFactor", func(t *testing.T) {
		ch, methods := e.passwordLogin("alan@example.com")
		if !slices.Contains(methods, coffer.FactorPasskey) {
			t.Errorf("methods = %v, want passkey", methods)
		}
		// Without user verification the assertion is not a factor.
		finish(ch, a.get(loginBegin(ch), flagUP)).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		assertion := a.get(loginBegin(ch), flagUP|flagUV)
		sess := sessionKey(finish(ch, assertion).WantStatus(http.StatusOK))
		e.wantMe(sess, true)
		// Neither the assertion nor the challenge work twice.
		finish(ch, assertion).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	})

	t.Run("Passwordless", func(t *testing.T) {
		finish("", a.get(loginBegin(""), flagUP)).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		assertion := a.get(loginBegin(""), flagUP|flagUV)
		sess := sessionKey(finish("", assertion).WantStatus(http.StatusOK))
		e.wantMe(sess, true)
		finish("", assertion).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		// A passkey ceremony cannot answer a password login's challenge.
		ch, _ := e.passwordLogin("alan@example.com")
		finish(ch, a.get(loginBegin(""), flagUP|flagUV)).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	})

	t.Run("Delete", func(t *testing.T) {
		path := "/api/v1/auth/passkeys/" + reg.Passkey.ID
		e.Do("DELETE", path, key, map[string]string{"password": "not my password at all"}).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		e.Do("DELETE", "/api/v1/auth/passkeys/pkey_nothere", key, map[string]string{"password": testPassword}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
		e.Do("DELETE", path, key, map[string]string{"password": testPassword}).WantStatus(http.StatusNoContent)
		e.MustLogin("alan@example.com")
		e.Do("POST", "/api/v1/auth/passkeys/login/finish", "", map[string]any{"credential": a.get(loginBegin(""), flagUP|flagUV)}).
			WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	})
}

// TestPasskeysNeedAHostName: WebAuthn refuses IP addresses as relying
// party ids; the server says what to configure instead, and keeps its
// working configuration.
func TestPasskeysNeedAHostName(t *testing.T) {
	e := MustEnv(t)
	err := e.Store.SetPublicURL("http://127.0.0.1:8080")
	if err == nil || !strings.Contains(err.Error(), "host name") || !strings.Contains(err.Error(), "http://localhost:8080") {
		t.Fatalf("SetPublicURL with an IP address: %v", err)
	}
	e.MustUser("ada@example.com", "Ada")
	key := e.MustLogin("ada@example.com")
	e.Do("POST", "/api/v1/auth/passkeys/register/begin", key, map[string]any{"password": testPassword}).WantStatus(http.StatusOK)
}

// TestSecondFactorGuessing: each correct password gives a new challenge
// but no new tries: wrong second factors are counted per account, across
// challenges; after five, each further one blocks the account's second
// factor for a doubling delay (429 with Retry-After), raises an alert
// event and e-mails the person (through a real SMTP server, mailpit).
func TestSecondFactorGuessing(t *testing.T) {
	mp := MustMailpit(t)
	env := MustEnv(t, EnvOptions{SMTP: &mp.SMTP})
	env.Clock.Freeze()
	u := env.MustUser("ada@example.com", "Ada Lovelace")
	const secret = "JBSWY3DPEHPK3PXP"
	env.exec("INSERT INTO totp_secrets (user_id, secret, confirmed_at, created_at) VALUES (?, ?, 1, 1)", u.ID, env.sealTOTP(u.ID, secret))
	challenge := func() string {
		t.Helper()
		r := env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": testPassword}).WantStatus(http.StatusOK)
		ch, _ := r.Map()["challenge"].(string)
		if ch == "" {
			t.Fatalf("no challenge: %s", r.Body)
		}
		return ch
	}
	answer := func(code string) *Response {
		return env.Do("POST", "/api/v1/auth/login/second-factor", "", map[string]string{"challenge": challenge(), "method": "totp", "code": code})
	}
	wrong := "000000"
	for d := -1; d <= 1; d++ {
		if storetest.TOTPCode(t, secret, env.Clock.Now(), d) == wrong {
			wrong = "111111"
		}
	}
	for range 6 {
		answer(wrong).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	}
	wantRetryAfter(t, answer(storetest.TOTPCode(t, secret, env.Clock.Now(), 0)), 1)
	env.Clock.Advance(1100 * time.Millisecond)
	answer(wrong).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	wantRetryAfter(t, answer(storetest.TOTPCode(t, secret, env.Clock.Now(), 0)), 2)

	if got := env.eventKinds(u.ID)[coffer.EventSecondFactorAlert]; got != 2 {
		t.Errorf("%d %s events, want 2 (after the 6th and 7th failures)", got, coffer.EventSecondFactorAlert)
	}
	msgs := mp.WaitMessages("ada@example.com", 2)
	text := mp.Text(msgs[0].ID)
	if !strings.Contains(strings.ToLower(text), "your password was entered correctly but the second factor failed") || !strings.Contains(text, "7 times") {
		t.Errorf("alert mail %q:\n%s", msgs[0].Subject, text)
	}
	if strings.Contains(text, wrong) || strings.Contains(text, secret) {
		t.Errorf("the alert mail holds a code or the secret:\n%s", text)
	}

	// After the delay the right code works and clears the count.
	env.Clock.Advance(2100 * time.Millisecond)
	answer(storetest.TOTPCode(t, secret, env.Clock.Now(), 0)).WantStatus(http.StatusOK)
}
