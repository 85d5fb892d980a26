// Package filter implements Coffer's filter language: the expressions that
// list filters, views and grant row conditions are written in, such as
//
//	age > 30 && team = "red"
//	name ~ "smi" || `First name` in ["Ada", "Grace"]
//	owner = @user.id || "sales" in @user.groups
//
// Parse turns source text into a typed syntax tree (syntax only). Compile
// checks the tree against the fields of a table (an allow-list given by a
// Schema) and turns it into a parameterized SQL boolean expression: values
// are always bound arguments, never spliced into the SQL text. Eval is a
// reference evaluator written in Go with exactly the same semantics, for
// tests and for the access engine's reference evaluator.
//
// The logic is two-valued: an empty (NULL) field makes a comparison false,
// except for !=, !~, not in and is null, which are true for an empty field;
// ! negates exactly. The SQL that Compile returns is never NULL: it is true
// or false for every row, so it can itself be negated or combined safely.
//
// ParseSort parses the sort parameter of list requests ("-age,name").
//
// The language is described in docs/filter.md.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cofferhq/coffer"
)

// Limits on the size of filters and sorts. They bound the work one list
// request can ask for; a filter over one of them is refused with the code
// coffer.ETOOCOMPLEX.
const (
	MaxLength   = 4096 // bytes of filter (or sort) source
	MaxDepth    = 32   // nesting of parentheses and '!'
	MaxTerms    = 32   // comparisons ("name ~ \"x\"", "a in [...]", "b is null", ...)
	MaxNodes    = 256  // comparisons, logical operators and list elements
	MaxSortKeys = 8    // keys of a sort
	MaxList     = 100  // elements of a list literal
)

// Field describes one column that filters may name. A Schema hands out
// Fields; any column it does not know is refused as unknown.
type Field struct {
	Name string            // column name as users write it
	Type coffer.ColumnType // the column's type

	// SQL is, for scalar fields, the SQL expression of the stored value,
	// e.g. `t."c_abc"`. It is spliced into the compiled SQL, so it must
	// come from trusted code.
	SQL string

	// Sort, when set, is the SQL that lists order by instead of SQL: a
	// sort key of the value, e.g. `t."k_abc"`, NULL where SQL is NULL.
	// Key then returns the sort key of a stored value (its storage form):
	// equal values have equal keys, so an equality compiles to
	// Sort = Key(v) AND SQL = v, which an index on the key serves.
	Sort string
	Key  func(stored any) any

	// Contains returns, for list fields (multi_select, link), SQL that is
	// true when the list holds the value bound to placeholder ph. Empty is
	// SQL that is true when the list is empty. Neither may ever be NULL.
	Contains func(ph string) string
	Empty    string

	// Convert turns a filter literal (string, json.Number or bool) into
	// the value bound for this field: its storage form. For list fields
	// it converts one element. Its error message explains the problem,
	// e.g. "expected a number". A nil Convert binds strings and booleans
	// as they are and numbers as int64 or float64.
	Convert func(literal any) (any, error)
}

// IsList reports whether the field holds a list of values (multi_select
// and link columns).
func (f *Field) IsList() bool {
	return f.Type == coffer.TypeMultiSelect || f.Type == coffer.TypeLink
}

// Schema gives the fields that a filter or a sort may name.
type Schema interface {
	// Field returns the field with the given name as users write it.
	Field(name string) (*Field, bool)
}

// Env holds the values of the variables @user.id, @user.email and
// @user.groups. An empty UserID or UserEmail is no value: comparisons
// with it match nothing (and their negations match everything).
type Env struct {
	UserID, UserEmail string
	UserGroups        []string
}

// Dialect holds the SQL that differs between database backends.
type Dialect interface {
	// ContainsFold returns SQL that is true when the text expr contains
	// the text bound to placeholder ph, ignoring case (Unicode: as Go's
	// strings.ToLower on both sides). Both operands are never NULL.
	ContainsFold(expr, ph string) string
}

// textLike reports whether t holds text that may be searched with ~.
func textLike(t coffer.ColumnType) bool {
	switch t {
	case coffer.TypeText, coffer.TypeLongText, coffer.TypeEmail, coffer.TypeURL,
		coffer.TypePhone, coffer.TypeSingleSelect, coffer.TypeCreatedBy, coffer.TypeUpdatedBy:
		return true
	}
	return false
}

// ordered reports whether values of t may be compared with < <= > >=.
func ordered(t coffer.ColumnType) bool {
	switch t {
	case coffer.TypeNumber, coffer.TypeDate, coffer.TypeDateTime,
		coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
		return true
	}
	return textLike(t)
}

// maxQuoted is the length, in characters, beyond which names and values
// are cut short in error messages.
const maxQuoted = 64

// quote quotes s for an error message, cut short when long.
func quote(s string) string {
	r := []rune(s)
	if len(r) > maxQuoted {
		return strconv.Quote(string(r[:maxQuoted])) + "…"
	}
	return strconv.Quote(s)
}

// invalid returns the EINVALID error of a filter (field "filter") or a sort
// (field "sort"). pos is a 1-based character position, or 0 for none.
func invalid(field string, pos int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if pos > 0 {
		msg = fmt.Sprintf("at position %d: %s", pos, msg)
	}
	return &coffer.Error{
		Code:    coffer.EINVALID,
		Message: fmt.Sprintf("The %s is not valid: %s.", field, msg),
		Fields:  []coffer.FieldError{{Field: field, Message: msg}},
	}
}

// tooComplex returns the ETOOCOMPLEX error of a filter over a cap.
func tooComplex(pos int, format string, args ...any) error {
	err := filterErr(pos, format, args...).(*coffer.Error)
	err.Code = coffer.ETOOCOMPLEX
	return err
}

// filterErr returns an EINVALID error about the filter.
func filterErr(pos int, format string, args ...any) error {
	return invalid("filter", pos, format, args...)
}

// errMessage returns the message of an error from Field.Convert.
func errMessage(err error) string {
	var e *coffer.Error
	if errors.As(err, &e) {
		if len(e.Fields) == 1 && e.Message == "" {
			return e.Fields[0].Message
		}
		if e.Message != "" {
			return e.Message
		}
	}
	return err.Error()
}

// convert converts a literal for f with f.Convert or, without one, with
// defaultConvert.
func convert(f *Field, lit any) (any, error) {
	if f.Convert != nil {
		return f.Convert(lit)
	}
	switch v := lit.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		if x, err := v.Float64(); err == nil {
			return x, nil
		}
		return nil, errors.New("the number is out of range")
	case string, bool:
		return v, nil
	}
	return nil, errors.New("unexpected value")
}
