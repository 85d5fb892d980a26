package storetest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/accesslog"
	"github.com/cofferhq/coffer/mail"
	"github.com/cofferhq/coffer/store/all"
)

// receiver is a webhook endpoint on loopback that checks every request's
// Standard Webhooks signature itself (HMAC-SHA256 of id.timestamp.body
// under the secret) and answers the statuses it is given, then 200.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	fail   []int // statuses to answer first, in order
	got    []received
}

// received is one request the receiver accepted as authentic.
type received struct {
	id      string
	payload map[string]any
	status  int
}

func newReceiver(t *testing.T, fail ...int) *receiver {
	r := &receiver{t: t, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, ts, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	r.mu.Lock()
	defer r.mu.Unlock()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
	if err != nil || !strings.HasPrefix(r.secret, "whsec_") {
		r.t.Errorf("the secret %q is not whsec_<base64>", r.secret)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !hmac.Equal([]byte(sig), []byte(want)) || err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute || id == "" {
		r.t.Errorf("webhook signature %q (id %q, timestamp %q) does not verify", sig, id, ts)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("webhook body is not JSON: %s", body)
	}
	status := http.StatusOK
	if len(r.fail) > 0 {
		status, r.fail = r.fail[0], r.fail[1:]
	}
	r.got = append(r.got, received{id: id, payload: p, status: status})
	w.WriteHeader(status)
}

// delivered returns the requests answered 200.
func (r *receiver) delivered() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []received
	for _, g := range r.got {
		if g.status == http.StatusOK {
			out = append(out, g)
		}
	}
	return out
}

// waitDeliveries waits until a rule's delivery log holds n deliveries that
// are no longer pending, and returns the log.
func waitDeliveries(t *testing.T, s *all.Store, ctx context.Context, nb, watch string, n int) []*coffer.WatchDelivery {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		ds, err := s.FindWatchDeliveries(ctx, nb, watch)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, d := range ds {
			if d.Status != coffer.DeliveryPending {
				done++
			}
		}
		if done >= n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery log after 120 s: %d of %d done: %+v", done, n, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fastRetries are delivery options for tests: loopback allowed, retries
// at once.
func fastRetries() accesslog.SenderOptions {
	return accesslog.SenderOptions{AllowPrivate: true, Attempts: 3, Backoff: 10 * time.Millisecond}
}

// testWatches covers watch rules: a signed webhook verified by a real
// receiver, retried after a 500, with its delivery log; e-mail through
// mailpit; the author's access bounds what a rule sees; groups; SSRF.
func testWatches(t *testing.T, open Opener) {
	t.Run("Webhook", func(t *testing.T) { testWatchWebhook(t, open(t)) })
	t.Run("HiddenCells", func(t *testing.T) { testWatchHidden(t, open(t)) })
	t.Run("AccessLogRows", func(t *testing.T) { testWatchRows(t, open(t)) })
	t.Run("ReadsOutsideGroup", func(t *testing.T) { testWatchReads(t, open(t)) })
	t.Run("Email", func(t *testing.T) { testWatchEmail(t, open(t)) })
	t.Run("Mistakes", func(t *testing.T) { testWatchMistakes(t, open(t)) })
}

// testWatchWebhook: a change of a matching record reaches the webhook
// after a retry, signed; a change of another record does not.
func testWatchWebhook(t *testing.T, s *all.Store) {
	s.SetWatchOptions(fastRetries())
	f := newAccessFixture(t, s, 3)
	rc := newReceiver(t, http.StatusInternalServerError)
	w, err := s.CreateWatch(f.ctx, f.nb, coffer.WatchInput{Table: ptr("People"), Name: ptr("Ada watch"), Filter: ptr(`Name = "ada"`),
		Events: &[]string{"change"}, WebhookURL: ptr(rc.srv.URL + "/hook")})
	if err != nil {
		t.Fatalf("CreateWatch: %v (%v)", err, coffer.ErrorFields(err))
	}
	if !strings.HasPrefix(w.Secret, "whsec_") || !coffer.ValidID(coffer.PrefixWatch, w.ID) {
		t.Fatalf("created rule %+v: want an id and a whsec_ secret", w)
	}
	rc.mu.Lock()
	rc.secret = w.Secret
	rc.mu.Unlock()
	if got, err := s.FindWatch(f.ctx, f.nb, w.ID); err != nil || got.Secret != "" {
		t.Errorf("FindWatch shows the secret again: %+v, %v", got, err)
	}
	// bob's record does not match; ada's does (the second write is
	// handled after the first: one worker, in order).
	if _, err := s.UpdateRecord(f.ctx, f.nb, f.table, f.recs[1].ID, map[string]any{"Salary": 5}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(f.ctx, f.nb, f.table, f.recs[0].ID, map[string]any{"Salary": 7}, 0); err != nil {
		t.Fatal(err)
	}
	ds := waitDeliveries(t, s, f.ctx, f.nb, w.ID, 1)
	if len(ds) != 1 || ds[0].Status != coffer.DeliveryDelivered || ds[0].Attempts != 2 || ds[0].HTTPStatus != 200 || ds[0].Channel != coffer.ChannelWebhook {
		t.Fatalf("delivery log = %+v, want one webhook delivered at the second attempt", ds)
	}
	got := rc.delivered()
	if len(got) != 1 || got[0].id != ds[0].Event {
		t.Fatalf("receiver got %+v, want the event %s once", got, ds[0].Event)
	}
	data, _ := got[0].payload["data"].(map[string]any)
	rec, _ := data["record"].(map[string]any)
	fields, _ := rec["fields"].(map[string]any)
	if got[0].payload["type"] != "watch.change" || data["record_id"] != f.recs[0].ID || fields["Name"] != "ada" {
		t.Errorf("payload = %v", got[0].payload)
	}
	// The test endpoint sends a sample.
	tds, err := s.TestWatch(f.ctx, f.nb, w.ID)
	if err != nil || len(tds) != 1 {
		t.Fatalf("TestWatch: %+v, %v", tds, err)
	}
	waitDeliveries(t, s, f.ctx, f.nb, w.ID, 2)
	if got := rc.delivered(); len(got) != 2 || got[1].payload["type"] != "watch.test" {
		t.Errorf("after the test: %+v", got)
	}
	// Always failing: bounded attempts, then failed.
	rc.mu.Lock()
	rc.fail = []int{500, 500, 500, 500}
	rc.mu.Unlock()
	if _, err := s.TestWatch(f.ctx, f.nb, w.ID); err != nil {
		t.Fatal(err)
	}
	ds = waitDeliveries(t, s, f.ctx, f.nb, w.ID, 3)
	if ds[0].Status != coffer.DeliveryFailed || ds[0].Attempts != 3 || ds[0].HTTPStatus != 500 || ds[0].Error == "" {
		t.Errorf("a delivery that keeps failing: %+v, want failed after 3 attempts", ds[0])
	}
	if err := s.DeleteWatch(f.ctx, f.nb, w.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindWatchDeliveries(f.ctx, f.nb, w.ID)
	wantCode(t, err, coffer.ENOTFOUND)
}

// testWatchHidden: the rule's author sees Name but not Salary; the
// filter may not name Salary, a change of Salary alone tells nothing,
// and a notification never carries Salary.
func testWatchHidden(t *testing.T, s *all.Store) {
	s.SetWatchOptions(fastRetries())
	f := newAccessFixture(t, s, 3)
	authorCtx, author := MustUser(t, s)
	table := f.table
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: author.ID}, Table: &table,
		Columns: map[string]string{"Name": "read"}, Capabilities: []string{"access_log"}}); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	_, err := s.CreateWatch(authorCtx, f.nb, coffer.WatchInput{Table: ptr("People"), Filter: ptr("Salary > 0"), Events: &[]string{"change"}, WebhookURL: ptr(rc.srv.URL)})
	wantCode(t, err, coffer.EINVALID)
	wantFields(t, err, "filter")
	w, err := s.CreateWatch(authorCtx, f.nb, coffer.WatchInput{Table: ptr("People"), Events: &[]string{"change"}, WebhookURL: ptr(rc.srv.URL)})
	if err != nil {
		t.Fatalf("CreateWatch: %v (%v)", err, coffer.ErrorFields(err))
	}
	rc.mu.Lock()
	rc.secret = w.Secret
	rc.mu.Unlock()
	if _, err := s.UpdateRecord(f.ctx, f.nb, f.table, f.recs[0].ID, map[string]any{"Salary": 99999}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(f.ctx, f.nb, f.table, f.recs[0].ID, map[string]any{"Name": "ada2", "Salary": 123456}, 0); err != nil {
		t.Fatal(err)
	}
	ds := waitDeliveries(t, s, authorCtx, f.nb, w.ID, 1)
	got := rc.delivered()
	if len(ds) != 1 || len(got) != 1 {
		t.Fatalf("deliveries %+v, received %d: want one (the Salary-only change tells nothing)", ds, len(got))
	}
	raw, _ := json.Marshal(got[0].payload)
	if strings.Contains(string(raw), "Salary") || strings.Contains(string(raw), "123456") || strings.Contains(string(raw), "99999") {
		t.Errorf("the notification leaks the hidden column: %s", raw)
	}
	data, _ := got[0].payload["data"].(map[string]any)
	if cols, _ := data["changed_columns"].([]any); len(cols) != 1 || cols[0] != "Name" {
		t.Errorf("changed columns = %v, want [Name]", data["changed_columns"])
	}
	// Others' rules are not theirs to see; the owner sees them all.
	otherCtx, _ := MustUser(t, s)
	_, err = s.FindWatch(otherCtx, f.nb, w.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	if ws, err := s.FindWatches(f.ctx, f.nb); err != nil || len(ws) != 1 {
		t.Errorf("the owner lists %+v, %v", ws, err)
	}
}

// testWatchReads: reads by members of the group are ignored, reads by
// others are told (reads come from the access records).
func testWatchReads(t *testing.T, s *all.Store) {
	s.SetWatchOptions(fastRetries())
	f := newAccessFixture(t, s, 3)
	setAccessLog(t, s, f.ctx, f.nb, true)
	op, err := s.CreateUser(context.Background(), coffer.UserInput{Email: "op-watch-" + strconv.FormatInt(userSeq.Add(1), 10) + "@example.com", Name: "Op", Password: TestPassword, Operator: true})
	if err != nil {
		t.Fatal(err)
	}
	org, err := s.CreateOrganization(CallerContext(op), coffer.OrganizationInput{Name: "Acme", Owner: f.u.ID})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGroup(f.ctx, org.ID, "Staff")
	if err != nil {
		t.Fatal(err)
	}
	insiderCtx, insider := MustUser(t, s)
	outsiderCtx, outsider := MustUser(t, s)
	for _, u := range []*coffer.User{insider, outsider} {
		if _, _, err := s.SetOrgMember(f.ctx, org.ID, u.ID, coffer.OrgMember); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutMember(f.ctx, f.nb, u.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddGroupMember(f.ctx, org.ID, g.ID, insider.ID); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	w, err := s.CreateWatch(f.ctx, f.nb, coffer.WatchInput{Table: ptr("People"), Filter: ptr(`Name = "bob"`), OutsideGroup: ptr(g.ID),
		Events: &[]string{"read", "export"}, WebhookURL: ptr(rc.srv.URL)})
	if err != nil {
		t.Fatalf("CreateWatch: %v (%v)", err, coffer.ErrorFields(err))
	}
	rc.mu.Lock()
	rc.secret = w.Secret
	rc.mu.Unlock()
	MustList(t, insiderCtx, s, f.nb, f.table, coffer.ListQuery{})
	s.FlushAccessLog()
	MustFindRecord(t, outsiderCtx, s, f.nb, f.table, f.recs[0].ID) // ada: no match
	MustFindRecord(t, withClient(outsiderCtx, "198.51.100.4", "Reader/2"), s, f.nb, f.table, f.recs[1].ID)
	s.FlushAccessLog()
	waitDeliveries(t, s, f.ctx, f.nb, w.ID, 1)
	got := rc.delivered()
	if len(got) != 1 {
		t.Fatalf("received %d notifications, want 1 (the outsider's read of bob)", len(got))
	}
	data, _ := got[0].payload["data"].(map[string]any)
	actor, _ := data["actor"].(map[string]any)
	if got[0].payload["type"] != "watch.read" || data["record_id"] != f.recs[1].ID || actor["user_id"] != outsider.ID || data["ip"] != "198.51.100.4" {
		t.Errorf("payload = %v", got[0].payload)
	}
	// An export of the whole table holds a matching record: told, once,
	// without a record; the insider's export is not.
	s.NoteExport(insiderCtx, f.nb, "People", "records csv")
	s.NoteExport(outsiderCtx, f.nb, "People", "records csv")
	s.FlushAccessLog()
	waitDeliveries(t, s, f.ctx, f.nb, w.ID, 2)
	got = rc.delivered()
	if len(got) != 2 || got[1].payload["type"] != "watch.export" {
		t.Fatalf("received %+v, want the outsider's export second", got)
	}
	data, _ = got[1].payload["data"].(map[string]any)
	if _, ok := data["record_id"]; ok || data["table_name"] != "People" {
		t.Errorf("export payload = %v", got[1].payload)
	}
}

// testWatchEmail: a rule with e-mail tells its author through a real SMTP
// server.
func testWatchEmail(t *testing.T, s *all.Store) {
	mp := MustMailpit(t)
	sender, err := mail.NewSender(mp.SMTP, mail.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close(context.Background()) })
	opts := fastRetries()
	opts.Mail = func(ctx context.Context, to, subject, text string) error {
		return sender.Send(ctx, mail.Message{To: to, Subject: subject, Text: text, Kind: "watch"})
	}
	s.SetWatchOptions(opts)
	f := newAccessFixture(t, s, 2)
	w, err := s.CreateWatch(f.ctx, f.nb, coffer.WatchInput{Table: ptr("People"), Name: ptr("New people"), Events: &[]string{"change"}, Email: ptr(true)})
	if err != nil {
		t.Fatalf("CreateWatch: %v (%v)", err, coffer.ErrorFields(err))
	}
	r := MustRecord(t, f.ctx, s, f.nb, f.table, map[string]any{"Name": "dora"})
	ds := waitDeliveries(t, s, f.ctx, f.nb, w.ID, 1)
	if ds[0].Status != coffer.DeliveryDelivered || ds[0].Channel != coffer.ChannelEmail {
		t.Fatalf("delivery = %+v", ds[0])
	}
	msgs := mp.WaitMessages(f.u.Email, 1)
	if !strings.Contains(msgs[0].Subject, "New people") {
		t.Errorf("subject %q", msgs[0].Subject)
	}
	if text := mp.Text(msgs[0].ID); !strings.Contains(text, r.ID) || !strings.Contains(text, "dora") {
		t.Errorf("the e-mail does not name the record: %s", text)
	}
}

// testWatchMistakes: bad rules are refused with field errors; webhooks to
// private addresses are refused unless the instance allows them; only
// owners, admins and access_log holders may watch.
func testWatchMistakes(t *testing.T, s *all.Store) {
	f := newAccessFixture(t, s, 1)
	_, err := s.CreateWatch(f.ctx, f.nb, coffer.WatchInput{Table: ptr("People"), Events: &[]string{"write"}, WebhookURL: ptr("ftp://example.com/x")})
	wantCode(t, err, coffer.EINVALID)
	wantFields(t, err, "events", "webhook_url")
	for _, u := range []string{"http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://[::1]/x", "http://localhost/x", "http://169.254.169.254/latest"} {
		_, err = s.CreateWatch(f.ctx, f.nb, coffer.WatchInput{Table: ptr("People"), Events: &[]string{"change"}, WebhookURL: ptr(u)})
		if !wantCode(t, err, coffer.EINVALID) {
			t.Errorf("webhook to %s accepted", u)
		}
	}
	_, err = s.CreateWatch(f.ctx, f.nb, coffer.WatchInput{Table: ptr("Nope"), Events: &[]string{"change"}})
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.CreateWatch(f.ctx, f.nb, coffer.WatchInput{Table: ptr("People"), Events: &[]string{"change"}, OutsideGroup: ptr("grp_00000000000000000000000000")})
	wantCode(t, err, coffer.EINVALID)
	wantFields(t, err, "outside_group")
	viewerCtx, viewer := MustUser(t, s)
	if _, err := s.PutMember(f.ctx, f.nb, viewer.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateWatch(viewerCtx, f.nb, coffer.WatchInput{Table: ptr("People"), Events: &[]string{"change"}})
	wantCode(t, err, coffer.EFORBIDDEN)
	w, err := s.CreateWatch(f.ctx, f.nb, coffer.WatchInput{Table: ptr("People"), Events: &[]string{"change"}})
	if err != nil || !w.Email {
		t.Fatalf("a rule without channel defaults to e-mail: %+v, %v", w, err)
	}
	up, err := s.UpdateWatch(f.ctx, f.nb, w.ID, coffer.WatchInput{Filter: ptr(`Name ~ "a"`), Events: &[]string{"read", "change", "read"}})
	if err != nil || up.Filter != `Name ~ "a"` || len(up.Events) != 2 {
		t.Errorf("UpdateWatch: %+v, %v", up, err)
	}
	_, err = s.UpdateWatch(f.ctx, f.nb, w.ID, coffer.WatchInput{Email: ptr(false)})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.UpdateWatch(viewerCtx, f.nb, w.ID, coffer.WatchInput{Name: ptr("mine")})
	wantCode(t, err, coffer.ENOTFOUND)
}

// testWatchRows: the author reads every row (viewer) but has access_log
// only on ada's rows: a rule tells them only about those, as the access
// records would.
func testWatchRows(t *testing.T, s *all.Store) {
	s.SetWatchOptions(fastRetries())
	f := newAccessFixture(t, s, 3)
	authorCtx, author := MustUser(t, s)
	if _, err := s.PutMember(f.ctx, f.nb, author.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	table := f.table
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: author.ID}, Table: &table,
		Rows: `Name = "ada"`, Columns: map[string]string{"*": "read"}, Capabilities: []string{"access_log"}}); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	w, err := s.CreateWatch(authorCtx, f.nb, coffer.WatchInput{Table: ptr("People"), Events: &[]string{"change"}, WebhookURL: ptr(rc.srv.URL)})
	if err != nil {
		t.Fatalf("CreateWatch: %v (%v)", err, coffer.ErrorFields(err))
	}
	rc.mu.Lock()
	rc.secret = w.Secret
	rc.mu.Unlock()
	for _, r := range []*coffer.Record{f.recs[1], f.recs[0]} { // bob, then ada
		if _, err := s.UpdateRecord(f.ctx, f.nb, f.table, r.ID, map[string]any{"Salary": 1}, 0); err != nil {
			t.Fatal(err)
		}
	}
	waitDeliveries(t, s, authorCtx, f.nb, w.ID, 1)
	got := rc.delivered()
	data, _ := got[0].payload["data"].(map[string]any)
	if len(got) != 1 || data["record_id"] != f.recs[0].ID {
		t.Errorf("received %+v, want only the change of ada's record", got)
	}
}
