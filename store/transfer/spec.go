// Package transfer copies a whole Coffer instance from one storage backend
// to another (SQLite ↔ PostgreSQL) and verifies the copy: accounts,
// sessions, the notebook registry, and for every notebook its catalogue and
// the rows of every user table and link junction, system columns included.
//
// Both sides are read and written through store.Backend, so the copy works
// between any two backends: notebook storage is created by the
// destination's CreateNotebook (which runs its migrations) and user tables
// by store.TableDDL, the DDL the store itself runs.
//
// Values are moved as typed Go values (text, int64, bool, bytes), never as
// SQL text, so they round-trip exactly: scaled numbers and microsecond
// timestamps as int64, booleans between SQLite's 0/1 and PostgreSQL's
// boolean, multi-select JSON as text, session key hashes as bytes.
package transfer

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// kind is how a column's values are read, written and checksummed.
type kind byte

const (
	kText  kind = 'S'
	kInt   kind = 'I'
	kBool  kind = 'B'
	kBytes kind = 'X'
)

type column struct {
	name string // unquoted
	kind kind
}

// table describes one SQL table to copy and checksum.
type table struct {
	name  string // unquoted, unqualified
	label string // for reports: the SQL name, with the user's name for user tables
	cols  []column
	order []string // columns giving a total order of the rows
}

func cols(kinds string, names ...string) []column {
	out := make([]column, len(names))
	for i, n := range names {
		out[i] = column{n, kind(kinds[i])}
	}
	return out
}

// instanceTables are the instance database's tables, in an order that
// satisfies their foreign keys.
var instanceTables = []table{
	{name: "users", cols: cols("SSSSSBIIIII", "id", "email", "email_key", "name", "password_hash", "operator", "created_at", "updated_at", "deactivated_at", "password_changed_at", "failed_logins"), order: []string{"id"}},
	{name: "organizations", cols: cols("SSSII", "id", "name", "policy", "created_at", "updated_at"), order: []string{"id"}},
	{name: "org_members", cols: cols("SSSI", "org_id", "user_id", "role", "created_at"), order: []string{"org_id", "user_id"}},
	{name: "user_groups", cols: cols("SSSI", "id", "org_id", "name", "created_at"), order: []string{"id"}},
	{name: "group_members", cols: cols("SS", "group_id", "user_id"), order: []string{"group_id", "user_id"}},
	{name: "password_history", cols: cols("SSI", "user_id", "hash", "created_at"), order: []string{"user_id", "created_at", "hash"}},
	{name: "sessions", cols: cols("SXSIIIISBSSS", "id", "key_hash", "user_id", "created_at", "expires_at", "last_seen_at", "idle_timeout", "method", "mfa", "restriction", "ip", "user_agent"), order: []string{"id"}},
	{name: "api_keys", cols: cols("SXSSBSIII", "id", "key_hash", "user_id", "name", "read_only", "notebooks", "created_at", "expires_at", "last_used_at"), order: []string{"id"}},
	{name: "login_challenges", cols: cols("SXSSIII", "id", "token_hash", "user_id", "method", "created_at", "expires_at", "attempts"), order: []string{"id"}},
	{name: "throttle", cols: cols("SIII", "key", "failures", "last_at", "blocked_until"), order: []string{"key"}},
	{name: "instance_secrets", cols: cols("SX", "name", "value"), order: []string{"name"}},
	{name: "data_keys", cols: cols("SSISXS", "id", "scope", "created_at", "master_id", "wrapped", "state"), order: []string{"id"}},
	{name: "totp_secrets", cols: cols("SSIII", "user_id", "secret", "confirmed_at", "last_step", "created_at"), order: []string{"user_id"}},
	{name: "recovery_codes", cols: cols("SXII", "user_id", "code_hash", "used_at", "created_at"), order: []string{"user_id", "code_hash"}},
	{name: "passkeys", cols: cols("SSSSIIS", "id", "user_id", "name", "credential", "created_at", "last_used_at", "credential_id"), order: []string{"id"}},
	{name: "webauthn_ceremonies", cols: cols("XSSXSII", "challenge_hash", "kind", "user_id", "login_challenge", "session", "created_at", "expires_at"), order: []string{"challenge_hash"}},
	{name: "sso_providers", cols: cols("SSSSSSSI", "id", "org_id", "name", "issuer", "client_id", "client_secret", "scopes", "created_at"), order: []string{"id"}},
	{name: "sso_identities", cols: cols("SSSSI", "issuer", "subject", "user_id", "provider_id", "created_at"), order: []string{"issuer", "subject"}},
	{name: "sso_states", cols: cols("XSSSSXSII", "state_hash", "provider_id", "nonce", "pkce_verifier", "redirect_uri", "binding_hash", "link_user_id", "created_at", "expires_at"), order: []string{"state_hash"}},
	{name: "password_resets", cols: cols("SXSIII", "id", "token_hash", "user_id", "created_at", "expires_at", "used_at"), order: []string{"id"}},
	// The audit log is copied as it is, indexes, record bytes, stored
	// hashes and signed checkpoints included, so it verifies on the copy.
	{name: "audit_head", cols: cols("ISIIS", "id", "origin", "size", "first_idx", "verifier"), order: []string{"id"}},
	{name: "audit_entries", cols: cols("IISSSSSSSSX", "idx", "at", "kind", "actor", "user_id", "email", "org_id", "ip", "user_agent", "detail", "record"), order: []string{"idx"}},
	{name: "audit_hashes", cols: cols("IX", "idx", "hash"), order: []string{"idx"}},
	{name: "audit_checkpoints", cols: cols("IXSIII", "size", "root", "note", "at", "dropped_from", "dropped_to"), order: []string{"size"}},
	{name: "notebooks", cols: cols("SSSIII", "id", "name", "owner_id", "created_at", "updated_at", "access_version"), order: []string{"id"}},
	{name: "notebook_members", cols: cols("SSSSI", "notebook_id", "principal_type", "principal_id", "role", "created_at"), order: []string{"notebook_id", "principal_type", "principal_id"}},
	{name: "access_epoch", cols: cols("II", "id", "epoch"), order: []string{"id"}},
	// The catalogue of backups (snapshot objects stay in their locations).
	{name: "backup_snapshots", cols: cols("SSSSIIIIIIIISIISSISS", "id", "notebook", "kind", "status", "started_at", "heartbeat_at", "finished_at", "verified_at", "deleted_at",
		"size", "image_size", "rows", "tables", "blobs", "blob_bytes", "locations", "state", "schema_version", "key_id", "error"), order: []string{"id"}},
	// Backup runs and drills (their history); a lease left behind expires.
	{name: "backup_runs", cols: cols("SSSIIISSIIIIIIS", "id", "kind", "status", "started_at", "updated_at", "finished_at", "phase", "current", "done", "total", "taken", "skipped", "failed", "bytes", "error"), order: []string{"id"}},
	{name: "backup_drills", cols: cols("SISIIIIIISS", "id", "seq", "status", "started_at", "finished_at", "restore_us", "notebooks", "blobs", "blob_bytes", "report", "error"), order: []string{"id"}},
	{name: "backup_leases", cols: cols("SSI", "name", "holder", "until"), order: []string{"name"}},
	{name: "grants", cols: cols("SSSSSSSSSII", "id", "notebook_id", "principal_type", "principal_id", "table_id", "view_id", "rows_filter", "column_rights", "capabilities", "created_at", "updated_at"), order: []string{"id"}},
}

// catalogueTables are a notebook's catalogue tables, in foreign key order.
var catalogueTables = []table{
	{name: "_schema_version", cols: cols("IIIIII", "id", "version", "history", "history_days", "access_log", "history_from"), order: []string{"id"}},
	{name: "_tables", cols: cols("SSSIIISS", "id", "name", "name_key", "position", "created_at", "updated_at", "layout", "indexes"), order: []string{"id"}},
	{name: "_columns", cols: cols("SSSSSSII", "id", "table_id", "name", "name_key", "type", "options", "position", "created_at"), order: []string{"id"}},
	{name: "_views", cols: cols("SSSSSSSII", "id", "table_id", "name", "name_key", "filter", "sort", "columns", "created_at", "updated_at"), order: []string{"id"}},
	// History keeps its sequence numbers: changes and undo links refer to them.
	{name: "_actions", cols: cols("IISSSSSSSSSIIII", "seq", "at", "actor", "api_key", "client", "ip", "user_agent", "kind", "table_id", "summary", "inverse", "undoes", "redoes", "undone_by", "history"), order: []string{"seq"}},
	{name: "_changes", cols: cols("IISSSSS", "seq", "n", "table_id", "record_id", "column_id", "old", "new"), order: []string{"seq", "n"}},
	// Access records keep their sequence numbers too (pages' cursors).
	{name: "_access_log", cols: cols("IISSSSSSSSS", "seq", "at", "kind", "actor", "api_key", "ip", "user_agent", "table_id", "record_id", "records", "detail"), order: []string{"seq"}},
	{name: "_watches", cols: cols("SSSSSSISSSII", "id", "table_id", "name", "filter", "outside", "events", "email", "webhook_url", "secret", "created_by", "created_at", "updated_at"), order: []string{"id"}},
	{name: "_watch_deliveries", cols: cols("SSSSSIISII", "id", "watch_id", "event", "channel", "status", "attempts", "http_status", "error", "created_at", "updated_at"), order: []string{"id"}},
	// Files keep their sealed keys as bytes; the blobs stay in the blob store.
	{name: "_files", cols: cols("SSSSSISSSXSII", "id", "table_id", "record_id", "column_id", "name", "size", "type", "sha256", "blob_key", "file_key", "uploaded_by", "created_at", "deleted_at"), order: []string{"id"}},
	{name: "_file_links", cols: cols("SSXIIISII", "id", "file_id", "token_hash", "expires_at", "max_downloads", "downloads", "created_by", "created_at", "revoked_at"), order: []string{"id"}},
}

func init() {
	for _, list := range [][]table{instanceTables, catalogueTables} {
		for i := range list {
			list[i].label = list[i].name
		}
	}
}

// kindOf is the kind of the physical column of a column type, as the
// dialects store it (see their ColumnType).
func kindOf(t coffer.ColumnType) kind {
	switch t {
	case coffer.TypeNumber, coffer.TypeDateTime:
		return kInt
	case coffer.TypeBoolean:
		return kBool
	}
	return kText
}

// notebookData is what a notebook's catalogue says about its storage: the
// tables of the store (for their DDL) and the SQL tables holding rows.
type notebookData struct {
	tables  []*coffer.Table
	indexes map[string][]catalog.IndexDef // declared indexes by table id
	user    []table                       // user tables, then link junctions
}

// readCatalogue reads the catalogue of a notebook through q (on a database
// whose tables prefix qualifies) and derives the user tables and junctions.
func readCatalogue(ctx context.Context, q querier, d store.Dialect, prefix string) (*notebookData, error) {
	nd := &notebookData{indexes: map[string][]catalog.IndexDef{}}
	byID := map[string]*coffer.Table{}
	rows, err := q.QueryContext(ctx, "SELECT id, name, indexes FROM "+prefix+"_tables ORDER BY id")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		t := &coffer.Table{}
		var indexes string
		if err := rows.Scan(&t.ID, &t.Name, &indexes); err != nil {
			rows.Close()
			return nil, err
		}
		var defs []catalog.IndexDef
		if err := json.Unmarshal([]byte(indexes), &defs); err != nil {
			rows.Close()
			return nil, fmt.Errorf("table %s indexes: %w", t.ID, err)
		}
		nd.indexes[t.ID] = defs
		nd.tables = append(nd.tables, t)
		byID[t.ID] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, "SELECT id, table_id, name, type, options FROM "+prefix+"_columns ORDER BY position, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		c := &coffer.Column{}
		var tableID, opts string
		if err := rows.Scan(&c.ID, &tableID, &c.Name, &c.Type, &opts); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(opts), &c.Options); err != nil {
			return nil, fmt.Errorf("column %s options: %w", c.ID, err)
		}
		t := byID[tableID]
		if t == nil {
			return nil, fmt.Errorf("column %s belongs to unknown table %s", c.ID, tableID)
		}
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var junctions []table
	for _, t := range nd.tables {
		ut := table{
			name:  "t_" + strings.TrimPrefix(t.ID, coffer.PrefixTable),
			cols:  cols("SIISIS", "id", "version", "created_at", "created_by", "updated_at", "updated_by"),
			order: []string{"id"},
		}
		ut.label = ut.name + " (" + t.Name + ")"
		for _, c := range t.Columns {
			switch {
			case c.Type == coffer.TypeLink:
				j := table{
					name:  "l_" + strings.TrimPrefix(c.ID, coffer.PrefixColumn),
					cols:  cols("SSI", "src", "dst", "pos"),
					order: []string{"src", "dst"},
				}
				j.label = j.name + " (" + t.Name + "." + c.Name + ")"
				junctions = append(junctions, j)
			case d.ColumnType(c.Type) != "":
				ut.cols = append(ut.cols, column{"c_" + strings.TrimPrefix(c.ID, coffer.PrefixColumn), kindOf(c.Type)})
			}
		}
		nd.user = append(nd.user, ut)
	}
	nd.user = append(nd.user, junctions...)
	return nd, nil
}

// querier is what *sql.Tx and *sql.DB have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func quote(s string) string { return `"` + s + `"` }

// selectSQL reads every row of t in its total order.
func (t *table) selectSQL(prefix string) string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = quote(c.name)
	}
	order := make([]string, len(t.order))
	for i, c := range t.order {
		order[i] = quote(c)
	}
	return "SELECT " + strings.Join(names, ", ") + " FROM " + prefix + quote(t.name) + " ORDER BY " + strings.Join(order, ", ")
}

// holders returns fresh scan destinations for a row of t.
func (t *table) holders() []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kText:
			out[i] = new(sql.NullString)
		case kInt:
			out[i] = new(sql.NullInt64)
		case kBool:
			out[i] = new(sql.NullBool)
		case kBytes:
			out[i] = new(sql.Null[[]byte])
		}
	}
	return out
}

// value returns the value a holder scanned, nil for NULL.
func value(h any) any {
	switch v := h.(type) {
	case *sql.NullString:
		if v.Valid {
			return v.String
		}
	case *sql.NullInt64:
		if v.Valid {
			return v.Int64
		}
	case *sql.NullBool:
		if v.Valid {
			return v.Bool
		}
	case *sql.Null[[]byte]:
		if v.Valid {
			if v.V == nil {
				return []byte{}
			}
			return v.V
		}
	}
	return nil
}
