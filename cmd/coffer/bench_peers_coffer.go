package main

// Coffer in coffer bench --peers: "coffer serve" of this same binary, its
// own process, with the default durability, on SQLite in a data
// directory of its own or on PostgreSQL in a schema of its own. The owner
// loads the records; a grantee's grant has the row condition team = "red"
// and hides email.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
)

// Coffer's durability, as printed.
const cofferSQLiteDurability = "journal_mode=WAL, synchronous=FULL with group commit (its default)"

// peerGrantRows is the grantee's row condition (PocketBase's rule).
const peerGrantRows = `team = "red"`

// cofferServer is a "coffer serve" process set up for the bench.
type cofferServer struct {
	proc       *peerProc
	store      storeConfig
	durability string
	index      bool   // (team, age) declared
	base       string // http://127.0.0.1:port/api/v1
	owner      *benchClient
	grantee    *benchClient
	records    string // URL of the people records
}

// startCoffer creates the two accounts in the storage of sc (as "coffer
// user create" does), starts "coffer serve" on it and sets up the table
// and the grant over HTTP.
func startCoffer(ctx context.Context, sc storeConfig, logPath string, concurrency int) (_ *cofferServer, err error) {
	s := &cofferServer{store: sc}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
		}
	}()
	b, err := openBackend(ctx, &sc, func(string) {})
	if err != nil {
		return nil, err
	}
	master, err := keyring.Generate()
	if err != nil {
		b.Close()
		return nil, err
	}
	st := all.New(b, master)
	ownerPW, granteePW := "owner-"+rand.Text(), "grantee-"+rand.Text()
	_, err = st.CreateUser(ctx, coffer.UserInput{Email: "owner@example.com", Name: "Owner", Password: ownerPW})
	var grantee *coffer.User
	if err == nil {
		grantee, err = st.CreateUser(ctx, coffer.UserInput{Email: "grantee@example.com", Name: "Grantee", Password: granteePW})
	}
	durability := cofferSQLiteDurability
	if pg, ok := b.(*postgres.Backend); ok && err == nil {
		durability, err = pgDurability(ctx, pg)
	}
	if err = errors.Join(err, b.Close()); err != nil {
		return nil, err
	}

	args := []string{"serve", "--addr", "127.0.0.1:0"}
	cmd, err := selfCommand()
	if err != nil {
		return nil, err
	}
	// The data directory holds the audit log's key on PostgreSQL too.
	args = append(args, "--data", sc.dataDir)
	if sc.dbURL != "" {
		args = append(args, "--db-schema", sc.dbSchema)
		cmd.Env = append(cmd.Env, "COFFER_DB="+sc.dbURL) // not in the process list
	}
	cmd.Args = append(cmd.Args, args...)
	s.durability = durability
	p, line, err := startPeerProc("Coffer", cmd, logPath, " listening on http://")
	if err != nil {
		return nil, err
	}
	s.proc = p
	_, addr, _ := strings.Cut(line, " listening on http://")
	addr, _, _ = strings.Cut(addr, " ")
	s.base = "http://" + addr + "/api/v1"
	s.owner = newBenchClient(concurrency)
	if s.owner.auth, err = s.login(ctx, "owner@example.com", ownerPW); err != nil {
		return nil, err
	}
	s.grantee = &benchClient{hc: s.owner.hc}
	if s.grantee.auth, err = s.login(ctx, "grantee@example.com", granteePW); err != nil {
		return nil, err
	}
	return s, s.setup(ctx, grantee.ID)
}

func (s *cofferServer) login(ctx context.Context, email, password string) (string, error) {
	var sess coffer.Session
	c := &benchClient{hc: http.DefaultClient}
	if err := c.json(ctx, "POST", s.base+"/auth/login", map[string]string{"email": email, "password": password}, http.StatusOK, &sess); err != nil {
		return "", fmt.Errorf("coffer login: %w", err)
	}
	return "Bearer " + sess.Key, nil
}

// setup creates the notebook, the people table and the grantee's grant.
func (s *cofferServer) setup(ctx context.Context, granteeID string) error {
	var nb coffer.Notebook
	if err := s.owner.json(ctx, "POST", s.base+"/notebooks", map[string]string{"name": "Bench"}, http.StatusCreated, &nb); err != nil {
		return fmt.Errorf("coffer notebook: %w", err)
	}
	in := coffer.TableInput{Name: "people", Columns: []coffer.ColumnInput{
		{Name: "name", Type: coffer.TypeText},
		{Name: "email", Type: coffer.TypeEmail},
		{Name: "team", Type: coffer.TypeSingleSelect, Options: coffer.ColumnOptions{Choices: peerTeams}},
		{Name: "age", Type: coffer.TypeNumber},
	}}
	var t coffer.Table
	if err := s.owner.json(ctx, "POST", s.base+"/notebooks/"+nb.ID+"/tables", in, http.StatusCreated, &t); err != nil {
		return fmt.Errorf("coffer table: %w", err)
	}
	tableURL := s.base + "/notebooks/" + nb.ID + "/tables/" + t.ID
	s.records = tableURL + "/records"
	if err := s.declareIndex(ctx, tableURL); err != nil {
		return err
	}
	grant := coffer.GrantInput{
		Principal: coffer.Principal{Type: access.PrincipalUser, ID: granteeID},
		Table:     &t.ID, Rows: peerGrantRows,
		Columns: map[string]string{"*": string(access.Read), "email": string(access.None)},
	}
	if err := s.owner.json(ctx, "POST", s.base+"/notebooks/"+nb.ID+"/grants", grant, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("coffer grant: %w", err)
	}
	return nil
}

// declareIndex declares the index over (team, age) that PocketBase's
// collection has, where this build has the API for it (issue 15, item 2):
// a 404 or 405 on …/indexes means it has not.
func (s *cofferServer) declareIndex(ctx context.Context, tableURL string) error {
	in := map[string]any{"columns": []string{"team", "age"}}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", tableURL+"/indexes", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", s.owner.auth)
	res, err := s.owner.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	switch res.StatusCode {
	case http.StatusCreated:
		s.index = true
		return nil
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return nil
	}
	return fmt.Errorf("coffer index (team, age): status %d: %s", res.StatusCode, msg)
}

type cofferBatchOp struct {
	Op     string     `json:"op"`
	Fields peerPerson `json:"fields"`
}

// loadBatch creates people in one batch request and returns their ids.
func (s *cofferServer) loadBatch(ctx context.Context, people []peerPerson) ([]string, error) {
	ops := make([]cofferBatchOp, len(people))
	for i, p := range people {
		ops[i] = cofferBatchOp{Op: coffer.OpCreate, Fields: p}
	}
	var out struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	if err := s.owner.json(ctx, "POST", s.records+"/batch", map[string]any{"operations": ops}, http.StatusOK, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(people) {
		return nil, fmt.Errorf("coffer batch: %d results for %d records", len(out.Results), len(people))
	}
	ids := make([]string, len(out.Results))
	for i, r := range out.Results {
		ids[i] = r.ID
	}
	return ids, nil
}

// check makes sure the grant does what the bench says: the grantee reads
// a red record without its email, and not another.
func (s *cofferServer) check(ctx context.Context, red, other string) error {
	var rec struct {
		Fields map[string]any `json:"fields"`
	}
	if err := s.grantee.do(ctx, "GET", s.records+"/"+red, nil, http.StatusOK, &rec); err != nil {
		return fmt.Errorf("coffer: the grantee cannot read a red record: %w", err)
	}
	if _, ok := rec.Fields["email"]; ok || rec.Fields["team"] != "red" {
		return fmt.Errorf("coffer: the grantee's record shows the email or is not red: %v", rec.Fields)
	}
	if other != "" {
		if err := s.grantee.do(ctx, "GET", s.records+"/"+other, nil, http.StatusNotFound, nil); err != nil {
			return fmt.Errorf("coffer: the grant does not hide other teams: %w", err)
		}
	}
	var page struct {
		Records []struct {
			Fields peerPerson `json:"fields"`
		} `json:"records"`
	}
	if err := s.grantee.do(ctx, "GET", peerPageURL(s.records, "limit", "", ""), nil, http.StatusOK, &page); err != nil {
		return fmt.Errorf("coffer page: %w", err)
	}
	items := make([]peerPerson, len(page.Records))
	for i, r := range page.Records {
		items[i] = r.Fields
	}
	return checkPeerPage("coffer", items)
}

// specs returns the bench's requests on Coffer: the total is asked with
// count=true.
func (s *cofferServer) specs(all, red []string, bodies []string) map[string]peerLoadSpec {
	page := func(total bool) string {
		if total {
			return peerPageURL(s.records, "limit", "count", "true")
		}
		return peerPageURL(s.records, "limit", "", "")
	}
	owner := map[string]string{"Authorization": s.owner.auth}
	grantee := map[string]string{"Authorization": s.grantee.auth}
	wrapped := make([]string, len(bodies))
	for i, b := range bodies {
		wrapped[i] = `{"fields":` + b + `}`
	}
	return map[string]peerLoadSpec{
		wlPeerGetGrant:  {Method: "GET", URL: s.records + "/{id}", IDs: red, Headers: grantee, Status: http.StatusOK},
		wlPeerPageGrant: {Method: "GET", URL: page(false), Headers: grantee, Status: http.StatusOK},
		wlPeerPageTotal: {Method: "GET", URL: page(true), Headers: grantee, Status: http.StatusOK},
		wlPeerPageFresh: {Method: "GET", URL: peerVariedPageURL(s.records, "limit", "count", "true"), IDs: peerTokens, Headers: grantee, Status: http.StatusOK},
		wlPeerGetOwner:  {Method: "GET", URL: s.records + "/{id}", IDs: all, Headers: owner, Status: http.StatusOK},
		wlPeerPageOwner: {Method: "GET", URL: page(false), Headers: owner, Status: http.StatusOK},
		wlPeerCreate:    {Method: "POST", URL: s.records, Headers: owner, Bodies: wrapped, Status: http.StatusCreated},
	}
}

// pgDurability describes the PostgreSQL server's durability settings.
func pgDurability(ctx context.Context, b *postgres.Backend) (string, error) {
	var commit, fsync string
	if err := b.Pool().QueryRowContext(ctx, "SELECT current_setting('synchronous_commit'), current_setting('fsync')").Scan(&commit, &fsync); err != nil {
		return "", err
	}
	return "PostgreSQL on the same machine, synchronous_commit=" + commit + ", fsync=" + fsync, nil
}

// close stops the server, then drops its PostgreSQL schemas (the data
// directory goes with the bench's temporary directory).
func (s *cofferServer) close() error {
	if s.proc != nil {
		s.proc.stop()
	}
	if s.store.dbURL == "" {
		return nil
	}
	ctx := context.Background()
	b, err := postgres.Open(ctx, s.store.dbURL, s.store.postgresOptions())
	if err != nil {
		return err
	}
	return errors.Join(dropBenchSchemas(b, s.store.postgresOptions()), b.Close())
}

// newCofferStore is the storage of one Coffer server of the bench: a
// data directory under dir, or with dbURL a schema of its own.
func newCofferStore(dir, name, dbURL string) storeConfig {
	sc := storeConfig{dataDir: filepath.Join(dir, name)}
	if dbURL != "" {
		sc.dbURL = dbURL
		sc.dbSchema = "coffer_bench_" + strings.ToLower(rand.Text()[:10])
	}
	return sc
}
