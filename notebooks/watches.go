package notebooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/accesslog"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// storedWatch is a watch rule as stored, secret included.
type storedWatch struct {
	coffer.Watch
	events string // comma-separated
	secret string // sealed under the notebook's data key (watchAAD)
	// Outside is the group id of OutsideGroup.
	Outside string
}

// watchAAD is the associated data of a rule's sealed webhook secret. The
// secret is sealed under the notebook's data key, so deleting the notebook
// shreds it with the rest.
func watchAAD(id string) string { return "watch:" + id }

const watchCols = "id, table_id, name, filter, outside, events, email, webhook_url, secret, created_by, created_at, updated_at"

func scanWatch(row interface{ Scan(...any) error }) (*storedWatch, error) {
	var w storedWatch
	var email int
	var created, updated int64
	if err := row.Scan(&w.ID, &w.TableID, &w.Name, &w.Filter, &w.Outside, &w.events, &email, &w.WebhookURL, &w.secret, &w.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	w.OutsideGroup, w.Email = w.Outside, email == 1
	w.Events = strings.Split(w.events, ",")
	w.CreatedAt, w.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	return &w, nil
}

// loadWatches reads a notebook's rules, or one rule when id is set.
func (s *Service) loadWatches(ctx context.Context, q catalog.Querier, prefix, id string) ([]*storedWatch, error) {
	query, args := "SELECT "+watchCols+" FROM "+prefix+"_watches ORDER BY id", []any(nil)
	if id != "" {
		query, args = "SELECT "+watchCols+" FROM "+prefix+"_watches WHERE id = ?", []any{id}
	}
	rows, err := q.QueryContext(ctx, s.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*storedWatch
	for rows.Next() {
		w, err := scanWatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

var errWatchNotFound = coffer.Errorf(coffer.ENOTFOUND, "watch rule not found")

// findWatchAs returns a rule the caller may see and change: its author's,
// or any for the notebook's owners and admins.
func (s *Service) findWatchAs(ctx context.Context, nc *catalog.Conn, q catalog.Querier, id string) (*storedWatch, error) {
	if !coffer.ValidID(coffer.PrefixWatch, id) {
		return nil, errWatchNotFound
	}
	ws, err := s.loadWatches(ctx, q, nc.DB.Prefix, id)
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 || !s.mayManage(ctx, nc, ws[0]) {
		return nil, errWatchNotFound
	}
	return ws[0], nil
}

// mayManage reports whether the caller may see and change a rule.
func (s *Service) mayManage(ctx context.Context, nc *catalog.Conn, w *storedWatch) bool {
	c := coffer.CallerFrom(ctx)
	return nc.Rights.AtLeast(access.RoleAdmin) || (c != nil && c.UserID == w.CreatedBy)
}

// checkWatch validates a rule (with in's changes applied to w) against
// the table as the caller sees it: the caller may watch it (owner, admin
// or access_log), the filter names only columns they see, the group
// exists in one of their organizations, and the channels are valid.
func (s *Service) checkWatch(ctx context.Context, nc *catalog.Conn, w *storedWatch, in coffer.WatchInput) (*catalog.TablePlan, error) {
	var errs []coffer.FieldError
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	if in.Table != nil {
		set(&w.TableID, in.Table)
	}
	set(&w.Name, in.Name)
	set(&w.Filter, in.Filter)
	set(&w.Outside, in.OutsideGroup)
	set(&w.WebhookURL, in.WebhookURL)
	if in.Email != nil {
		w.Email = *in.Email
	}
	if in.Events != nil {
		w.Events = *in.Events
	}
	if w.TableID == "" {
		return nil, coffer.Invalid("the watch rule is not valid", coffer.FieldError{Field: "table", Message: "is required"})
	}
	tm, err := nc.Schema.Table(w.TableID)
	if err != nil {
		return nil, err
	}
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	if err != nil {
		return nil, s.WrapNotFound("checkWatch", err)
	}
	if !nc.Rights.AtLeast(access.RoleAdmin) && !tp.Decision.Can(access.CapAccessLog) {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "watching a table needs the access_log capability on it")
	}
	w.TableID = tm.Table.ID
	if w.Name != "" {
		if _, fe := catalog.CheckName("name", w.Name); fe != nil {
			errs = append(errs, *fe)
		}
	}
	errs = append(errs, s.checkWatchFilter(tp, w.Filter)...)
	errs = append(errs, checkEvents(w)...)
	if !w.Email && w.WebhookURL == "" {
		errs = append(errs, coffer.FieldError{Field: "email", Message: "a rule needs e-mail or a webhook_url to tell you"})
	}
	if w.WebhookURL != "" {
		if err := accesslog.CheckURL(w.WebhookURL, s.al.watch.currentSender().AllowPrivate()); err != nil {
			errs = append(errs, coffer.FieldError{Field: "webhook_url", Message: err.Error()})
		}
	}
	if w.Outside != "" {
		fe, err := s.checkWatchGroup(ctx, w.Outside)
		if err != nil {
			return nil, err
		}
		errs = append(errs, fe...)
	}
	if len(errs) > 0 {
		return nil, coffer.Invalid("the watch rule is not valid", errs...)
	}
	return tp, nil
}

// checkWatchFilter checks a rule's filter like a view's: against the
// table as the caller sees it.
func (s *Service) checkWatchFilter(tp *catalog.TablePlan, src string) []coffer.FieldError {
	e, err := filter.Parse(src)
	if err == nil && e != nil {
		sch := tp.Schema()
		_, _, err = filter.Compile(e, sch, filter.Env{UserID: "x", UserEmail: "x@x.x"}, s.Dialect)
		if err == nil {
			err = sch.Check("watch filter")
		}
	}
	if err == nil {
		return nil
	}
	var out []coffer.FieldError
	for _, fe := range coffer.ErrorFields(err) {
		out = append(out, coffer.FieldError{Field: "filter", Message: fe.Message})
	}
	if len(out) == 0 {
		out = append(out, coffer.FieldError{Field: "filter", Message: coffer.ErrorMessage(err)})
	}
	return out
}

// checkEvents checks and normalizes the events of a rule.
func checkEvents(w *storedWatch) []coffer.FieldError {
	var evs []string
	for _, e := range w.Events {
		switch e {
		case coffer.WatchRead, coffer.WatchExport, coffer.WatchChange:
			if !slices.Contains(evs, e) {
				evs = append(evs, e)
			}
		default:
			return []coffer.FieldError{{Field: "events", Message: "must list read, export and/or change"}}
		}
	}
	if len(evs) == 0 {
		return []coffer.FieldError{{Field: "events", Message: "must list read, export and/or change"}}
	}
	slices.Sort(evs)
	w.Events, w.events = evs, strings.Join(evs, ",")
	return nil
}

// checkWatchGroup checks that a group exists in an organization the
// caller belongs to; other groups answer as missing.
func (s *Service) checkWatchGroup(ctx context.Context, group string) ([]coffer.FieldError, error) {
	c := coffer.CallerFrom(ctx)
	var n int
	err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"user_groups g JOIN "+s.Inst.Prefix+
		"org_members o ON o.org_id = g.org_id WHERE g.id = ? AND o.user_id = ?"), group, c.UserID).Scan(&n)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return []coffer.FieldError{{Field: "outside_group", Message: "is not a group of your organizations"}}, nil
	}
	return nil, nil
}

// openWatches opens a notebook for a watch call.
func (s *Service) openWatches(ctx context.Context, op, notebook string) (*catalog.Conn, error) {
	if _, err := store.Caller(ctx); err != nil {
		return nil, err
	}
	nc, err := s.OpenNotebook(ctx, notebook)
	return nc, s.Wrap(op, err)
}

// CreateWatch creates a watch rule; its webhook secret is in the answer,
// and never again.
func (s *Service) CreateWatch(ctx context.Context, notebook string, in coffer.WatchInput) (*coffer.Watch, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	nc, err := s.openWatches(ctx, "CreateWatch", notebook)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	c := coffer.CallerFrom(ctx)
	w := &storedWatch{Watch: coffer.Watch{ID: coffer.NewID(coffer.PrefixWatch), CreatedBy: c.UserID}, secret: accesslog.NewSecret()}
	if in.Email == nil && in.WebhookURL == nil {
		w.Email = true
	}
	if _, err := s.checkWatch(ctx, nc, w, in); err != nil {
		return nil, err
	}
	now := s.NowMicros()
	w.CreatedAt, w.UpdatedAt = store.FromMicros(now), store.FromMicros(now)
	sealed, err := s.Keys.SealString(ctx, notebook, watchAAD(w.ID), w.secret)
	if err != nil {
		return nil, err
	}
	err = s.Write(ctx, nc.DB, "CreateWatch", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+nc.DB.Prefix+"_watches ("+watchCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			w.ID, w.TableID, w.Name, w.Filter, w.Outside, w.events, boolInt(w.Email), w.WebhookURL, sealed, w.CreatedBy, now, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.al.watch.forget(notebook)
	out := w.Watch
	out.Secret = w.secret
	return &out, nil
}

// FindWatches lists the rules the caller may see: their own, or all for
// owners and admins.
func (s *Service) FindWatches(ctx context.Context, notebook string) ([]*coffer.Watch, error) {
	nc, err := s.openWatches(ctx, "FindWatches", notebook)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	ws, err := s.loadWatches(ctx, nc.DB.R, nc.DB.Prefix, "")
	if err != nil {
		return nil, s.Wrap("FindWatches", err)
	}
	out := []*coffer.Watch{}
	for _, w := range ws {
		if s.mayManage(ctx, nc, w) {
			out = append(out, &w.Watch)
		}
	}
	return out, nil
}

// FindWatch returns one rule.
func (s *Service) FindWatch(ctx context.Context, notebook, id string) (*coffer.Watch, error) {
	nc, err := s.openWatches(ctx, "FindWatch", notebook)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	w, err := s.findWatchAs(ctx, nc, nc.DB.R, id)
	if err != nil {
		return nil, s.Wrap("FindWatch", err)
	}
	return &w.Watch, nil
}

// UpdateWatch changes a rule, checked again as a whole.
func (s *Service) UpdateWatch(ctx context.Context, notebook, id string, in coffer.WatchInput) (*coffer.Watch, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	nc, err := s.openWatches(ctx, "UpdateWatch", notebook)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	var out *coffer.Watch
	err = s.Write(ctx, nc.DB, "UpdateWatch", func(tx *store.WriteTx) error {
		w, err := s.findWatchAs(ctx, nc, tx, id)
		if err != nil {
			return err
		}
		if _, err := s.checkWatch(ctx, nc, w, in); err != nil {
			return err
		}
		now := s.NowMicros()
		w.UpdatedAt = store.FromMicros(now)
		_, err = tx.ExecContext(ctx, s.Rebind("UPDATE "+nc.DB.Prefix+"_watches SET table_id = ?, name = ?, filter = ?, outside = ?, events = ?, email = ?, webhook_url = ?, updated_at = ? WHERE id = ?"),
			w.TableID, w.Name, w.Filter, w.Outside, w.events, boolInt(w.Email), w.WebhookURL, now, w.ID)
		w.OutsideGroup = w.Outside
		out = &w.Watch
		return err
	})
	s.al.watch.forget(notebook)
	return out, err
}

// DeleteWatch deletes a rule and its delivery log.
func (s *Service) DeleteWatch(ctx context.Context, notebook, id string) error {
	if err := store.Writable(ctx, true); err != nil {
		return err
	}
	nc, err := s.openWatches(ctx, "DeleteWatch", notebook)
	if err != nil {
		return err
	}
	defer nc.Release()
	err = s.Write(ctx, nc.DB, "DeleteWatch", func(tx *store.WriteTx) error {
		if _, err := s.findWatchAs(ctx, nc, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+nc.DB.Prefix+"_watch_deliveries WHERE watch_id = ?"), id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+nc.DB.Prefix+"_watches WHERE id = ?"), id)
		return err
	})
	s.al.watch.forget(notebook)
	return err
}

const deliveryCols = "id, watch_id, event, channel, status, attempts, http_status, error, created_at, updated_at"

// FindWatchDeliveries lists a rule's deliveries, newest first (the last
// 200).
func (s *Service) FindWatchDeliveries(ctx context.Context, notebook, id string) ([]*coffer.WatchDelivery, error) {
	nc, err := s.openWatches(ctx, "FindWatchDeliveries", notebook)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	if _, err := s.findWatchAs(ctx, nc, nc.DB.R, id); err != nil {
		return nil, s.Wrap("FindWatchDeliveries", err)
	}
	rows, err := nc.DB.R.QueryContext(ctx, s.Rebind("SELECT "+deliveryCols+" FROM "+nc.DB.Prefix+"_watch_deliveries WHERE watch_id = ? ORDER BY id DESC LIMIT 200"), id)
	if err != nil {
		return nil, s.Wrap("FindWatchDeliveries", err)
	}
	defer rows.Close()
	out := []*coffer.WatchDelivery{}
	for rows.Next() {
		var d coffer.WatchDelivery
		var created, updated int64
		if err := rows.Scan(&d.ID, &d.WatchID, &d.Event, &d.Channel, &d.Status, &d.Attempts, &d.HTTPStatus, &d.Error, &created, &updated); err != nil {
			return nil, s.Wrap("FindWatchDeliveries", err)
		}
		d.CreatedAt, d.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
		out = append(out, &d)
	}
	return out, s.Wrap("FindWatchDeliveries", rows.Err())
}

// TestWatch sends a sample notification on the rule's channels.
func (s *Service) TestWatch(ctx context.Context, notebook, id string) ([]*coffer.WatchDelivery, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	nc, err := s.openWatches(ctx, "TestWatch", notebook)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	w, err := s.findWatchAs(ctx, nc, nc.DB.R, id)
	if err != nil {
		return nil, s.Wrap("TestWatch", err)
	}
	c := coffer.CallerFrom(ctx)
	author, ok, err := s.al.watch.user(ctx, w.CreatedBy)
	if err != nil || !ok {
		author = person{id: c.UserID, email: c.Email, name: c.Name}
	}
	ev := watchEvent{Notebook: notebook, Table: w.TableID, Kind: "test", Actor: c.UserID, At: s.NowMicros()}
	tname := ""
	if tm := nc.Schema.ByID[w.TableID]; tm != nil {
		tname = tm.Table.Name
	}
	return s.al.watch.deliver(ctx, nc, w, ev, person{id: c.UserID, email: c.Email, name: c.Name}, author, notice{table: tname})
}

// notify sends one notification of a rule to its author.
func (w *watcher) notify(ctx context.Context, nc *catalog.Conn, r *storedWatch, ev watchEvent, actor person, n notice) {
	author, ok, err := w.user(ctx, r.CreatedBy)
	if err != nil || !ok {
		return
	}
	if _, err := w.deliver(ctx, nc, r, ev, actor, author, n); err != nil {
		w.log.Warn("watch notification not recorded", "watch", r.ID, "error", err.Error())
	}
}

// deliver records a delivery per channel of the rule and starts them.
func (w *watcher) deliver(ctx context.Context, nc *catalog.Conn, r *storedWatch, ev watchEvent, actor, author person, n notice) ([]*coffer.WatchDelivery, error) {
	event := coffer.NewID("msg_")
	body := watchPayload(nc, r, ev, actor, n, event)
	var ns []accesslog.Notification
	if r.Email {
		subject, text := watchMail(nc, r, ev, actor, n)
		ns = append(ns, accesslog.Notification{Channel: coffer.ChannelEmail, To: author.email, Subject: subject, Text: text})
	}
	if r.WebhookURL != "" {
		secret, err := w.s.Keys.OpenString(ctx, nc.Notebook.ID, watchAAD(r.ID), r.secret)
		if err != nil {
			return nil, err
		}
		ns = append(ns, accesslog.Notification{Channel: coffer.ChannelWebhook, URL: r.WebhookURL, Secret: secret, Body: body})
	}
	now := w.s.NowMicros()
	out := make([]*coffer.WatchDelivery, len(ns))
	for i := range ns {
		ns[i].Notebook, ns[i].Watch, ns[i].Event, ns[i].Delivery = nc.Notebook.ID, r.ID, event, coffer.NewID(coffer.PrefixDelivery)
		out[i] = &coffer.WatchDelivery{ID: ns[i].Delivery, WatchID: r.ID, Event: event, Channel: ns[i].Channel, Status: coffer.DeliveryPending,
			CreatedAt: store.FromMicros(now), UpdatedAt: store.FromMicros(now)}
	}
	err := w.s.Write(context.WithoutCancel(ctx), nc.DB, "watch.deliver", func(tx *store.WriteTx) error {
		for _, d := range out {
			if _, err := tx.ExecContext(ctx, w.s.Rebind("INSERT INTO "+nc.DB.Prefix+"_watch_deliveries ("+deliveryCols+") VALUES (?, ?, ?, ?, ?, 0, 0, '', ?, ?)"),
				d.ID, d.WatchID, d.Event, d.Channel, d.Status, now, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	snd := w.currentSender()
	for _, n := range ns {
		snd.Send(n)
	}
	return out, nil
}

// report stores the outcome of a delivery attempt.
func (w *watcher) report(n *accesslog.Notification, o accesslog.Outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := func() error {
		db, release, err := w.s.Storage.Notebook(ctx, n.Notebook)
		if err != nil {
			return err
		}
		defer release()
		return w.s.Write(ctx, db, "watch.report", func(tx *store.WriteTx) error {
			_, err := tx.ExecContext(ctx, w.s.Rebind("UPDATE "+db.Prefix+"_watch_deliveries SET status = ?, attempts = ?, http_status = ?, error = ?, updated_at = ? WHERE id = ?"),
				o.Status, o.Attempts, o.HTTPStatus, o.Error, w.s.NowMicros(), n.Delivery)
			return err
		})
	}()
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		w.log.Warn("watch delivery not recorded", "watch", n.Watch, "delivery", n.Delivery, "error", err.Error())
	}
	if o.Status == coffer.DeliveryFailed {
		w.log.Warn("watch delivery failed", "watch", n.Watch, "delivery", n.Delivery, "channel", n.Channel, "attempts", o.Attempts, "error", o.Error)
	}
}

// watchPayload is the JSON body of a webhook (Standard Webhooks: type,
// timestamp, data).
func watchPayload(nc *catalog.Conn, r *storedWatch, ev watchEvent, actor person, n notice, event string) []byte {
	data := map[string]any{
		"watch_id": r.ID, "watch_name": r.Name, "notebook_id": nc.Notebook.ID, "table_id": r.TableID, "table_name": n.table,
		"event": ev.Kind, "actor": map[string]any{"user_id": actor.id, "email": actor.email},
		"api_key_id": ev.APIKey, "ip": ev.IP, "user_agent": ev.UserAgent, "at": store.FromMicros(ev.At),
	}
	if ev.Op != "" {
		data["operation"] = ev.Op
	}
	if n.record != "" {
		data["record_id"] = n.record
	}
	if n.fields != nil {
		data["record"] = n.fields
	}
	if n.changed != nil {
		data["changed_columns"] = n.changed
	}
	body, err := json.Marshal(map[string]any{"type": "watch." + ev.Kind, "timestamp": store.FromMicros(ev.At), "data": data})
	if err != nil {
		body = []byte(`{"type":"watch.` + ev.Kind + `"}`)
	}
	return body
}

// watchMail is the e-mail of a notification.
func watchMail(nc *catalog.Conn, r *storedWatch, ev watchEvent, actor person, n notice) (string, string) {
	name := r.Name
	if name == "" {
		name = "on table " + n.table
	}
	verb := map[string]string{coffer.WatchRead: "read", coffer.WatchExport: "exported", coffer.WatchChange: "changed", "test": "tested"}[ev.Kind]
	subject := oneLine(fmt.Sprintf("Coffer watch rule %s: a record was %s", name, verb))
	var b strings.Builder
	fmt.Fprintf(&b, "Your watch rule %s in notebook %s fired.\n\n", oneLine(name), oneLine(nc.Notebook.Name))
	if ev.Kind == "test" {
		b.WriteString("This is a test notification: nothing happened.\n")
		return subject, b.String()
	}
	fmt.Fprintf(&b, "Who: %s (%s)\nWhat: %s", oneLine(actor.email), actor.id, verb)
	if ev.Op != "" {
		fmt.Fprintf(&b, " (%s)", ev.Op)
	}
	fmt.Fprintf(&b, "\nTable: %s\n", oneLine(n.table))
	if n.record != "" {
		fmt.Fprintf(&b, "Record: %s\n", n.record)
	}
	fmt.Fprintf(&b, "When: %s UTC\nFrom: %s (%s)\n", store.FromMicros(ev.At).Format("2006-01-02 15:04:05"), oneLine(ev.IP), oneLine(ev.UserAgent))
	if len(n.changed) > 0 {
		fmt.Fprintf(&b, "Changed: %s\n", oneLine(strings.Join(n.changed, ", ")))
	}
	if n.fields != nil {
		b.WriteString("\nThe record as you can see it:\n")
		order := n.fields.Order
		if order == nil {
			order = slices.Sorted(maps.Keys(n.fields.Fields))
		}
		for _, k := range order {
			if v, ok := n.fields.Fields[k]; ok {
				j, _ := json.Marshal(v)
				fmt.Fprintf(&b, "  %s: %s\n", oneLine(k), oneLine(string(j)))
			}
		}
	}
	return subject, b.String()
}

// oneLine keeps a value on one line of an e-mail.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(accesslog.Truncate(s, 300))
}
