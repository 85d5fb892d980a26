package main

// PocketBase in coffer bench --peers: built from the tool module
// bench/pocketbase (pinned there), started as its own process, and set up
// as a PocketBase user would: a base collection "people" with indexes on
// team, age and (team, age), a rule for the restricted user, an auth
// collection user, records loaded through the batch API.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// pocketBaseVersion is the version bench/pocketbase/go.mod pins.
const pocketBaseVersion = "v0.39.11"

// pbDurability says how PocketBase opens its SQLite databases: its own
// pragmas (v0.39.11, core/db_connect.go) with synchronous as the bench set
// it (bench/pocketbase/main.go).
func pbDurability(sync string) string {
	if sync == "NORMAL" {
		return "journal_mode=WAL, synchronous=NORMAL (its default pragmas, core/db_connect.go)"
	}
	return "journal_mode=WAL, synchronous=" + sync + " (its default pragmas, core/db_connect.go, but synchronous=NORMAL raised to match Coffer's durability: --pb-synchronous)"
}

// pbSyncEnv is read by bench/pocketbase/main.go: FULL or NORMAL.
const pbSyncEnv = "COFFER_BENCH_PB_SYNCHRONOUS"

// pbRule is the list and view rule of people: the restricted user sees
// red records only, with every field (a rule cannot hide a field).
const pbRule = `team = "red"`

// repoRoot finds Coffer's source tree: from the working directory up, else
// from the directory this file was compiled from (go run keeps it).
func repoRoot() (string, error) {
	isRoot := func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		return err == nil && bytes.Contains(b, []byte("module github.com/cofferhq/coffer\n"))
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if isRoot(dir) {
				return dir, nil
			}
			up := filepath.Dir(dir)
			if up == dir {
				break
			}
			dir = up
		}
	}
	return "", fmt.Errorf("bench --peers builds PocketBase from bench/pocketbase in Coffer's source tree, which was not found above the working directory: run it from the repository, go run ./cmd/coffer bench --peers")
}

// buildPocketBase builds PocketBase from bench/pocketbase with go build,
// once per version of that module: the binary is kept in the user cache
// directory (coffer-bench/pocketbase-VERSION-HASH, HASH of the module's
// main.go, go.mod and go.sum). It returns the binary's path.
func buildPocketBase(ctx context.Context, say func(string)) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, "bench", "pocketbase", f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "coffer-bench")
	bin := filepath.Join(dir, "pocketbase-"+pocketBaseVersion+"-"+hex.EncodeToString(h.Sum(nil))[:12])
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	say(fmt.Sprintf("building PocketBase %s from bench/pocketbase (go build; the first time takes minutes) into %s", pocketBaseVersion, bin))
	out := filepath.Join(tmp, "pocketbase")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(root, "bench", "pocketbase")
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build PocketBase in bench/pocketbase: %v\n%s", err, strings.TrimSpace(msg.String()))
	}
	if err := os.Rename(out, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// pbServer is a PocketBase process set up for the bench.
type pbServer struct {
	proc      *peerProc
	base      string // http://127.0.0.1:port
	admin     *benchClient
	userToken string
	people    string // URL of the people records
}

// startPocketBase starts PocketBase on a free port with its data in dir.
func startPocketBase(ctx context.Context, bin, dir, sync string, concurrency int) (_ *pbServer, err error) {
	data := filepath.Join(dir, "pb_data")
	email, password := "admin@example.com", "pb-"+rand.Text()
	up := exec.CommandContext(ctx, bin, "superuser", "upsert", email, password, "--dir", data)
	up.Dir = dir
	if out, err := up.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pocketbase superuser upsert: %v: %s", err, out)
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--http", "127.0.0.1:"+strconv.Itoa(port), "--dir", data)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), pbSyncEnv+"="+sync)
	dieWithParent(cmd)
	p, _, err := startPeerProc("PocketBase", cmd, filepath.Join(dir, "pocketbase.log"), "")
	if err != nil {
		return nil, err
	}
	s := &pbServer{proc: p, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	if err := waitHTTP(ctx, p, s.base+"/api/health"); err != nil {
		return nil, err
	}
	s.admin = newBenchClient(concurrency)
	if s.admin.auth, err = s.login(ctx, "_superusers", email, password); err != nil {
		return nil, err
	}
	return s, s.setup(ctx)
}

// login authenticates with a password and returns the token.
func (s *pbServer) login(ctx context.Context, collection, email, password string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	c := &benchClient{hc: http.DefaultClient}
	if err := c.json(ctx, "POST", s.base+"/api/collections/"+collection+"/auth-with-password",
		map[string]string{"identity": email, "password": password}, http.StatusOK, &out); err != nil {
		return "", fmt.Errorf("pocketbase login to %s: %w", collection, err)
	}
	return out.Token, nil
}

// setup enables batches, creates the people collection and the
// restricted user (in the default auth collection "users").
func (s *pbServer) setup(ctx context.Context) error {
	settings := map[string]any{"batch": map[string]any{"enabled": true, "maxRequests": loadBatch, "timeout": 120, "maxBodySize": 0}}
	if err := s.admin.json(ctx, "PATCH", s.base+"/api/settings", settings, http.StatusOK, nil); err != nil {
		return fmt.Errorf("pocketbase settings: %w", err)
	}
	rule := pbRule
	coll := map[string]any{
		"name": "people", "type": "base", "listRule": rule, "viewRule": rule,
		"fields": []map[string]any{
			{"name": "name", "type": "text"},
			{"name": "email", "type": "email"},
			{"name": "team", "type": "select", "maxSelect": 1, "values": peerTeams},
			{"name": "age", "type": "number", "onlyInt": true},
		},
		"indexes": []string{
			"CREATE INDEX idx_people_team ON people (team)",
			"CREATE INDEX idx_people_age ON people (age)",
			"CREATE INDEX idx_people_team_age ON people (team, age)",
		},
	}
	if err := s.admin.json(ctx, "POST", s.base+"/api/collections", coll, http.StatusOK, nil); err != nil {
		return fmt.Errorf("pocketbase collection: %w", err)
	}
	s.people = s.base + "/api/collections/people/records"
	email, password := "reader@example.com", "reader-"+rand.Text()
	user := map[string]any{"email": email, "password": password, "passwordConfirm": password}
	if err := s.admin.json(ctx, "POST", s.base+"/api/collections/users/records", user, http.StatusOK, nil); err != nil {
		return fmt.Errorf("pocketbase user: %w", err)
	}
	var err error
	s.userToken, err = s.login(ctx, "users", email, password)
	return err
}

// loadBatch creates people[from:to] in one batch request (one transaction)
// and returns their ids.
func (s *pbServer) loadBatch(ctx context.Context, people []peerPerson) ([]string, error) {
	reqs := make([]map[string]any, len(people))
	for i, p := range people {
		reqs[i] = map[string]any{"method": "POST", "url": "/api/collections/people/records", "body": p}
	}
	var out []struct {
		Status int `json:"status"`
		Body   struct {
			ID string `json:"id"`
		} `json:"body"`
	}
	if err := s.admin.json(ctx, "POST", s.base+"/api/batch", map[string]any{"requests": reqs}, http.StatusOK, &out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out))
	for i, r := range out {
		if r.Status != http.StatusOK || r.Body.ID == "" {
			return nil, fmt.Errorf("pocketbase batch: record %d: status %d", i, r.Status)
		}
		ids[i] = r.Body.ID
	}
	return ids, nil
}

// check makes sure the rule does what the bench says: the user reads a
// red record (email included) and not another.
func (s *pbServer) check(ctx context.Context, red, other string) error {
	user := &benchClient{hc: s.admin.hc, auth: s.userToken}
	var rec map[string]any
	if err := user.do(ctx, "GET", s.people+"/"+red, nil, http.StatusOK, &rec); err != nil {
		return fmt.Errorf("pocketbase: the user cannot read a red record: %w", err)
	}
	if _, ok := rec["email"]; !ok {
		return fmt.Errorf("pocketbase: the user's record lacks the email")
	}
	if other != "" {
		if err := user.do(ctx, "GET", s.people+"/"+other, nil, http.StatusNotFound, nil); err != nil {
			return fmt.Errorf("pocketbase: the rule does not hide other teams: %w", err)
		}
	}
	var page struct {
		Items      []peerPerson `json:"items"`
		TotalItems int          `json:"totalItems"`
	}
	if err := user.do(ctx, "GET", peerPageURL(s.people, "perPage", "skipTotal", "1"), nil, http.StatusOK, &page); err != nil {
		return fmt.Errorf("pocketbase page: %w", err)
	}
	return checkPeerPage("pocketbase", page.Items)
}

// specs returns the bench's requests on PocketBase. The superuser is the
// owner: it creates records (the collection has no create rule) and reads
// past the rules.
func (s *pbServer) specs(all, red []string, bodies []string) map[string]peerLoadSpec {
	page := func(total bool) string {
		if total {
			return peerPageURL(s.people, "perPage", "", "")
		}
		return peerPageURL(s.people, "perPage", "skipTotal", "1")
	}
	user := map[string]string{"Authorization": s.userToken}
	admin := map[string]string{"Authorization": s.admin.auth}
	return map[string]peerLoadSpec{
		wlPeerGetGrant:  {Method: "GET", URL: s.people + "/{id}", IDs: red, Headers: user, Status: http.StatusOK},
		wlPeerPageGrant: {Method: "GET", URL: page(false), Headers: user, Status: http.StatusOK},
		wlPeerPageTotal: {Method: "GET", URL: page(true), Headers: user, Status: http.StatusOK},
		wlPeerPageFresh: {Method: "GET", URL: peerVariedPageURL(s.people, "perPage", "", ""), IDs: peerTokens, Headers: user, Status: http.StatusOK},
		wlPeerGetOwner:  {Method: "GET", URL: s.people + "/{id}", IDs: all, Headers: admin, Status: http.StatusOK},
		wlPeerPageOwner: {Method: "GET", URL: page(false), Headers: admin, Status: http.StatusOK},
		wlPeerCreate:    {Method: "POST", URL: s.people, Headers: admin, Bodies: bodies, Status: http.StatusOK},
	}
}
