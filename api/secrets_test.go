package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/text/unicode/norm"

	"github.com/cofferhq/coffer"
)

const (
	apiColPassword  = "api column password"
	apiPlain        = "api-plaintext-of-an-encrypted-cell"
	apiCellPassword = "api-extranet-password-99"
)

// secretAPI is a notebook with a table of a text, an encrypted and a
// password column, created over HTTP.
type secretAPI struct {
	e                   *Env
	key                 string
	nb, tbl, base       string
	enc, pass           string // column ids
	salt, check         string
	memory, time, thrds float64
}

func newSecretAPI(t *testing.T) *secretAPI {
	e := MustEnv(t)
	e.MustUser("owner@example.com", "Owner")
	key := e.MustLogin("owner@example.com")
	var nb struct{ ID string }
	e.Do("POST", "/api/v1/notebooks", key, map[string]any{"name": "Secrets"}).WantStatus(201).JSON(&nb)
	r := e.Do("POST", "/api/v1/notebooks/"+nb.ID+"/tables", key, map[string]any{"name": "People", "columns": []map[string]any{
		{"name": "Name", "type": "text"},
		{"name": "Secret", "type": "encrypted", "options": map[string]any{"password": apiColPassword}},
		{"name": "Login", "type": "password"},
	}}).WantStatus(201)
	if bytes.Contains(r.Body, []byte(apiColPassword)) || bytes.Contains(r.Body, []byte(`"password":`)) {
		t.Fatalf("the table echoes the password: %s", r.Body)
	}
	var tbl struct {
		ID      string
		Columns []struct {
			ID, Name string
			Options  struct {
				Encryption map[string]any `json:"encryption"`
			}
		}
	}
	r.JSON(&tbl)
	s := &secretAPI{e: e, key: key, nb: nb.ID, tbl: tbl.ID, base: "/api/v1/notebooks/" + nb.ID + "/tables/" + tbl.ID}
	for _, c := range tbl.Columns {
		switch c.Name {
		case "Secret":
			s.enc = c.ID
			o := c.Options.Encryption
			s.salt, s.check = o["salt"].(string), o["check"].(string)
			s.memory, s.time, s.thrds = o["memory"].(float64), o["time"].(float64), o["threads"].(float64)
		case "Login":
			s.pass = c.ID
		}
	}
	return s
}

func (s *secretAPI) header(pw string) []string {
	return []string{"X-Coffer-Column-Key", s.enc + ":" + pw}
}

func TestEncryptedColumnAPI(t *testing.T) {
	s := newSecretAPI(t)
	e, key := s.e, s.key
	e.Do("POST", s.base+"/records", key, map[string]any{"fields": map[string]any{"Secret": apiPlain}}).WantProblem(403, coffer.ELOCKED)
	var rec struct {
		ID     string
		Fields map[string]any
	}
	e.Do("POST", s.base+"/records", key, map[string]any{"fields": map[string]any{"Name": "a", "Secret": apiPlain, "Login": apiCellPassword}}, s.header(apiColPassword)...).WantStatus(201).JSON(&rec)
	if rec.Fields["Secret"] != apiPlain {
		t.Fatalf("created: %v", rec.Fields)
	}
	locked := e.Do("GET", s.base+"/records/"+rec.ID, key, nil).WantStatus(200)
	if bytes.Contains(locked.Body, []byte(apiPlain)) || !bytes.Contains(locked.Body, []byte(`"Secret":{"locked":true,"sealed":"`)) || !bytes.Contains(locked.Body, []byte(`"Login":{"set":true}`)) {
		t.Fatalf("read without the key: %s", locked.Body)
	}
	if b := e.Do("GET", s.base+"/records/"+rec.ID, key, nil, s.header(apiColPassword)...).WantStatus(200).Body; !bytes.Contains(b, []byte(`"Secret":"`+apiPlain+`"`)) {
		t.Fatalf("read with the header: %s", b)
	}
	if b := e.Do("GET", s.base+"/records", key, nil, s.header(apiColPassword)...).WantStatus(200).Body; !bytes.Contains(b, []byte(`"Secret":"`+apiPlain+`"`)) || bytes.Contains(b, []byte("argon2")) {
		t.Fatalf("list with the header: %s", b)
	}
	e.Do("GET", s.base+"/records/"+rec.ID, key, nil, s.header("wrong password here")...).WantProblem(403, coffer.EKEY)
	e.Do("GET", s.base+"/records/"+rec.ID, key, nil, "X-Coffer-Column-Key", "no colon").WantProblem(400, coffer.EINVALID)
	e.Do("GET", s.base+"/records?filter="+urlq(`Secret = "x"`), key, nil, s.header(apiColPassword)...).WantProblem(400, coffer.EINVALID)
	e.Do("GET", s.base+"/records?sort=Login", key, nil).WantProblem(400, coffer.EINVALID)

	// Unlock, read, lock.
	e.Do("POST", s.base+"/columns/Secret/unlock", key, map[string]string{"password": "wrong password here"}).WantProblem(403, coffer.EKEY)
	var un struct {
		Unlocked  bool   `json:"unlocked"`
		ExpiresAt string `json:"expires_at"`
	}
	e.Do("POST", s.base+"/columns/Secret/unlock", key, map[string]string{"password": apiColPassword}).WantStatus(200).JSON(&un)
	if !un.Unlocked || un.ExpiresAt == "" {
		t.Fatalf("unlock = %+v", un)
	}
	if b := e.Do("GET", s.base+"/records/"+rec.ID, key, nil).WantStatus(200).Body; !bytes.Contains(b, []byte(`"Secret":"`+apiPlain+`"`)) {
		t.Fatalf("read after unlock: %s", b)
	}
	e.Do("PATCH", s.base+"/records/"+rec.ID, key, map[string]any{"fields": map[string]any{"Secret": "changed while unlocked"}}).WantStatus(200)
	asOf := e.Do("GET", s.base+"/records/"+rec.ID+"/history", key, nil).WantStatus(200).Body
	if !bytes.Contains(asOf, []byte("changed while unlocked")) || !bytes.Contains(asOf, []byte(apiPlain)) || bytes.Contains(asOf, []byte("argon2")) {
		t.Fatalf("history with the unlock: %s", asOf)
	}
	e.Do("DELETE", s.base+"/columns/Secret/unlock", key, nil).WantStatus(204)
	if b := e.Do("GET", s.base+"/records/"+rec.ID, key, nil).WantStatus(200).Body; bytes.Contains(b, []byte("changed while unlocked")) {
		t.Fatalf("read after lock: %s", b)
	}
	hist := e.Do("GET", s.base+"/records/"+rec.ID+"/history", key, nil).WantStatus(200).Body
	if bytes.Contains(hist, []byte(apiPlain)) || bytes.Contains(hist, []byte("argon2")) || !bytes.Contains(hist, []byte(`"locked":true`)) {
		t.Fatalf("history without the key: %s", hist)
	}
	exp := e.Do("GET", "/api/v1/notebooks/"+s.nb+"/history/export?table="+s.tbl+"&format=csv", key, nil, s.header(apiColPassword)...).WantStatus(200).Body
	if bytes.Contains(exp, []byte(apiPlain)) || bytes.Contains(exp, []byte("argon2")) {
		t.Fatalf("history export: %s", exp)
	}

	// Change the password over HTTP: the old one stops working.
	const next = "the next api column password"
	e.Do("PATCH", s.base+"/columns/Secret", key, map[string]any{"options": map[string]any{"password": next, "current_password": "wrong password here"}}).WantProblem(403, coffer.EKEY)
	col := e.Do("PATCH", s.base+"/columns/Secret", key, map[string]any{"options": map[string]any{"password": next, "current_password": apiColPassword}}).WantStatus(200).Body
	if bytes.Contains(col, []byte(next)) || bytes.Contains(col, []byte(apiColPassword)) {
		t.Fatalf("the column echoes a password: %s", col)
	}
	e.Do("GET", s.base+"/records/"+rec.ID, key, nil, s.header(apiColPassword)...).WantProblem(403, coffer.EKEY)
	if b := e.Do("GET", s.base+"/records/"+rec.ID, key, nil, s.header(next)...).WantStatus(200).Body; !bytes.Contains(b, []byte("changed while unlocked")) {
		t.Fatalf("read with the new password: %s", b)
	}

	// Unlock attempts are throttled per column and session.
	var last *Response
	for i := 0; i < 6; i++ {
		last = e.Do("POST", s.base+"/columns/Secret/unlock", key, map[string]string{"password": "wrong password here"})
	}
	last.WantProblem(429, coffer.ETOOMANY)
	if n, err := strconv.Atoi(last.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After = %q", last.Header.Get("Retry-After"))
	}

	// Nothing secret in the logs, in the audit log, or on disk.
	logs := e.Logs.String()
	for _, secret := range []string{apiColPassword, next, apiPlain, apiCellPassword, "changed while unlocked"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold %q", secret)
		}
	}
	checkAudit(t, e, map[string]bool{"column.unlocked": true, "column.unlock_failed": true, "column.password_changed": true})
	scanDir(t, e.Dir, apiColPassword, next, apiPlain, apiCellPassword, "changed while unlocked")
}

func TestPasswordColumnAPI(t *testing.T) {
	s := newSecretAPI(t)
	e, key := s.e, s.key
	var rec struct{ ID string }
	e.Do("POST", s.base+"/records", key, map[string]any{"fields": map[string]any{"Login": apiCellPassword}}).WantStatus(201).JSON(&rec)
	verify := s.base + "/records/" + rec.ID + "/columns/Login/verify"
	var m struct{ Match bool }
	e.Do("POST", verify, key, map[string]string{"password": apiCellPassword}).WantStatus(200).JSON(&m)
	if !m.Match {
		t.Fatal("the right password does not match")
	}
	e.Do("POST", verify, key, map[string]string{"password": apiCellPassword + "!"}).WantStatus(200).JSON(&m)
	if m.Match {
		t.Fatal("a wrong password matches")
	}
	e.Do("POST", verify, key, map[string]string{}).WantProblem(400, coffer.EINVALID)
	e.Do("POST", s.base+"/records/"+rec.ID+"/columns/Name/verify", key, map[string]string{"password": "x"}).WantProblem(400, coffer.EINVALID)
	e.Do("POST", s.base+"/records/"+coffer.NewID(coffer.PrefixRecord)+"/columns/Login/verify", key, map[string]string{"password": "x"}).WantProblem(404, coffer.ENOTFOUND)
	for _, path := range []string{s.base + "/records/" + rec.ID, s.base + "/records", s.base + "/records/" + rec.ID + "/history",
		"/api/v1/notebooks/" + s.nb + "/history/export?table=" + s.tbl + "&format=json"} {
		b := e.Do("GET", path, key, nil).WantStatus(200).Body
		if bytes.Contains(b, []byte("argon2")) || bytes.Contains(b, []byte(apiCellPassword)) {
			t.Errorf("%s carries the hash or the password: %s", path, b)
		}
	}
	// The verify endpoint is throttled per cell: the 11th attempt in a minute.
	var last *Response
	for i := 0; i < 9; i++ {
		last = e.Do("POST", verify, key, map[string]string{"password": "guess " + strconv.Itoa(i)})
	}
	last.WantProblem(429, coffer.ETOOMANY)
	if last.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	checkAudit(t, e, map[string]bool{"cell.password_verified": true})
	scanDir(t, e.Dir, apiCellPassword)
}

// TestClientSealedValue seals a value on the client side following only
// docs/encrypted-columns.md, writes it without any key, and reads it back
// with the column password.
func TestClientSealedValue(t *testing.T) {
	s := newSecretAPI(t)
	e, key := s.e, s.key
	var rec struct{ ID string }
	e.Do("POST", s.base+"/records", key, map[string]any{"fields": map[string]any{"Name": "client"}}).WantStatus(201).JSON(&rec)

	// The recipe of the document.
	salt, err := base64.StdEncoding.DecodeString(s.salt)
	if err != nil {
		t.Fatal(err)
	}
	out := argon2.IDKey([]byte(norm.NFKC.String(apiColPassword)), salt, uint32(s.time), uint32(s.memory), uint8(s.thrds), 64)
	mac := hmac.New(sha256.New, out[32:])
	mac.Write([]byte("coffer/encrypted-column/check/v1"))
	if got := base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != s.check {
		t.Fatalf("check value %s, the column says %s", got, s.check)
	}
	aead, err := chacha20poly1305.NewX(out[:32])
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("coffer/encrypted-column/v1")
	for _, id := range []string{s.nb, s.tbl, rec.ID, s.enc} {
		aad = append(append(aad, 0), id...)
	}
	nonce := make([]byte, 24)
	rand.Read(nonce)
	sealed := append([]byte{1}, nonce...)
	sealed = aead.Seal(sealed, nonce, []byte("sealed by the client"), aad)
	b64 := base64.StdEncoding.EncodeToString(sealed)

	e.Do("PATCH", s.base+"/records/"+rec.ID, key, map[string]any{"fields": map[string]any{"Secret": map[string]any{"sealed": b64}}}).WantStatus(200)
	if b := e.Do("GET", s.base+"/records/"+rec.ID, key, nil, s.header(apiColPassword)...).WantStatus(200).Body; !bytes.Contains(b, []byte(`"Secret":"sealed by the client"`)) {
		t.Fatalf("read of the client's value: %s", b)
	}
	// The server returns the same bytes to a reader without the key, who
	// opens them with the same recipe.
	var got struct {
		Fields struct {
			Secret struct {
				Locked bool   `json:"locked"`
				Sealed string `json:"sealed"`
			}
		}
	}
	e.Do("GET", s.base+"/records/"+rec.ID, key, nil).WantStatus(200).JSON(&got)
	raw, _ := base64.StdEncoding.DecodeString(got.Fields.Secret.Sealed)
	if pt, err := aead.Open(nil, raw[1:25], raw[25:], aad); err != nil || string(pt) != "sealed by the client" || !got.Fields.Secret.Locked {
		t.Fatalf("client open: %q, %v", pt, err)
	}
	// Moved to another record, it fails with an integrity error, not a 500.
	var other struct{ ID string }
	e.Do("POST", s.base+"/records", key, map[string]any{"fields": map[string]any{"Secret": map[string]any{"sealed": b64}}}).WantStatus(201).JSON(&other)
	e.Do("GET", s.base+"/records/"+other.ID, key, nil, s.header(apiColPassword)...).WantProblem(422, coffer.EINTEGRITY)
}

// checkAudit fails unless the audit log holds an entry of every kind in
// want, and no entry names a secret of this file.
func checkAudit(t *testing.T, e *Env, want map[string]bool) {
	t.Helper()
	op := coffer.WithCaller(context.Background(), &coffer.Caller{UserID: "usr_operator", Operator: true, SessionID: "ses_operator"})
	page, err := e.Store.AuditLog(op, coffer.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range page.Entries {
		delete(want, en.Kind)
		j := en.Kind + " " + en.Detail
		for _, secret := range []string{apiColPassword, apiPlain, apiCellPassword} {
			if strings.Contains(j, secret) {
				t.Errorf("audit entry %s holds %q", en.Kind, secret)
			}
		}
	}
	for k := range want {
		t.Errorf("no audit entry %s", k)
	}
}

// scanDir fails if any file under dir holds one of the secrets.
func scanDir(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", path, s)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("scan of %s: %d files, %v", dir, n, err)
	}
}

var _ = http.StatusOK

// TestSecretColumnsLive: live updates carry a locked encrypted cell and a
// password cell as {"set":true}, even to a session that unlocked the
// column: the stream never carries plaintext nor a hash.
func TestSecretColumnsLive(t *testing.T) {
	s := newSecretAPI(t)
	e, key := s.e, s.key
	e.Do("POST", s.base+"/columns/Secret/unlock", key, map[string]string{"password": apiColPassword}).WantStatus(200)
	st := openStreamAt(e, key, s.nb, s.tbl)
	e.Do("POST", s.base+"/records", key, map[string]any{"fields": map[string]any{"Secret": apiPlain, "Login": apiCellPassword}}).WantStatus(201)
	fr := st.next()
	if fr.event != "create" || strings.Contains(fr.data, apiPlain) || strings.Contains(fr.data, "argon2") ||
		!strings.Contains(fr.data, `"Secret":{"locked":true`) || !strings.Contains(fr.data, `"Login":{"set":true}`) {
		t.Fatalf("live frame: %+v", fr)
	}
}

// TestColumnKeysSeveralAndAPIKey: one header line per column opens two
// encrypted columns at once; an API key unlocks for itself, not for the
// session that made it; unlock attempts are throttled per client IP too.
func TestColumnKeysSeveralAndAPIKey(t *testing.T) {
	s := newSecretAPI(t)
	e, key := s.e, s.key
	var c2 struct{ ID string }
	e.Do("POST", s.base+"/columns", key, map[string]any{"name": "Second", "type": "encrypted", "options": map[string]any{"password": "second column password"}}).WantStatus(201).JSON(&c2)
	var rec struct{ ID string }
	req := func(method, path string, body string, lines ...string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		for _, l := range lines {
			r.Header.Add("X-Coffer-Column-Key", l)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	both := []string{s.enc + ":" + apiColPassword, c2.ID + ":second column password"}
	res := req("POST", s.base+"/records", `{"fields":{"Secret":"one","Second":"two"}}`, both...)
	if res.StatusCode != 201 {
		t.Fatalf("create with two keys: %d", res.StatusCode)
	}
	json.NewDecoder(res.Body).Decode(&rec)
	res.Body.Close()
	res = req("GET", s.base+"/records/"+rec.ID, "", both...)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(body, []byte(`"Secret":"one"`)) || !bytes.Contains(body, []byte(`"Second":"two"`)) {
		t.Fatalf("read with two keys: %s", body)
	}
	res = req("GET", s.base+"/records/"+rec.ID, "", both[0])
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(body, []byte(`"Secret":"one"`)) || bytes.Contains(body, []byte(`"Second":"two"`)) {
		t.Fatalf("read with one of two keys: %s", body)
	}

	var ak coffer.APIKey
	e.Do("POST", "/api/v1/api-keys", key, map[string]any{"name": "robot"}).WantStatus(201).JSON(&ak)
	e.Do("GET", s.base+"/records/"+rec.ID, ak.Key, nil, s.header(apiColPassword)...).WantStatus(200)
	e.Do("POST", s.base+"/columns/Secret/unlock", ak.Key, map[string]string{"password": apiColPassword}).WantStatus(200)
	if b := e.Do("GET", s.base+"/records/"+rec.ID, ak.Key, nil).WantStatus(200).Body; !bytes.Contains(b, []byte(`"Secret":"one"`)) {
		t.Fatalf("read with the unlocked API key: %s", b)
	}
	if b := e.Do("GET", s.base+"/records/"+rec.ID, key, nil).WantStatus(200).Body; bytes.Contains(b, []byte(`"Secret":"one"`)) {
		t.Fatalf("the session reads what its API key unlocked: %s", b)
	}

	// Per client IP: 20 attempts a minute over every column.
	// One attempt was the API key's unlock; six pairs of column and
	// holder keep each under its own limit of 5.
	holders := []string{key, ak.Key, e.MustLogin("owner@example.com")}
	var last *Response
	for i := 0; i < 20; i++ {
		col := []string{"Secret", "Second"}[i%2]
		last = e.Do("POST", s.base+"/columns/"+col+"/unlock", holders[i/2%3], map[string]string{"password": "wrong password " + strconv.Itoa(i)})
		if last.Status == 429 && i < 19 {
			t.Fatalf("attempt %d throttled", i)
		}
	}
	last.WantProblem(429, coffer.ETOOMANY)
}
