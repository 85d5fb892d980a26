// Package value validates column values, converts them between their JSON
// form and their storage form, and converts them when a column's type
// changes.
//
// The JSON form is what the API reads and writes (see coffer.Record). The
// storage form is what the store binds into SQL and reads back:
//
//	text, long_text, email, url, phone,
//	single_select, created_by, updated_by  string
//	number                                 int64: the value × 10^precision, exact
//	boolean                                bool
//	date                                   string "YYYY-MM-DD"
//	datetime, created_at, updated_at       int64: microseconds since the Unix epoch, UTC
//	multi_select                           string: a JSON array of choices, in the order of the column's choices
//	link                                   []string: record ids, in input order
//	file                                   string: a JSON array of files (id, name, size, type, sha256)
//
// nil is the empty value of every type: an empty string, an empty
// selection and an empty list of links are all stored as nil.
//
// Error messages are short sentences without the column name, such as
// "must be a number with at most 2 decimal places": the caller puts the
// column name in front.
package value

import (
	"errors"
	"fmt"

	"github.com/cofferhq/coffer"
)

// Limits of values and column options.
const (
	MaxText      = 10_000    // bytes of a text value
	MaxLongText  = 1_000_000 // bytes of a long_text value
	MaxEmail     = 254       // bytes of an email address
	MaxURL       = 2048      // bytes of a URL
	MaxPhone     = 40        // bytes of a phone number
	MaxLinks     = 1000      // records in a link value
	MaxChoices   = 1000      // choices of a select column
	MaxChoiceLen = 100       // characters of a choice
	MaxPrecision = 9         // decimal places of a number column
)

func problem(msg string) error               { return errors.New(msg) }
func problemf(format string, a ...any) error { return fmt.Errorf(format, a...) }

var (
	errAutomatic = problem("is set automatically and cannot be written")
	errNoColumn  = problem("is not a column")
	errType      = problem("has an unknown type")
)

// FromJSON validates a value decoded by encoding/json with UseNumber
// (string, json.Number, bool, []any, map[string]any or nil) for column c and
// returns its storage form. For callers that build values in Go it also
// takes []string, Go integers and float64 up to 2^53. An empty string is an
// empty value (nil) for every type that takes strings. Values of automatic
// columns are refused.
func FromJSON(c *coffer.Column, v any) (any, error) {
	if c == nil {
		return nil, errNoColumn
	}
	if c.Type.Automatic() {
		return nil, errAutomatic
	}
	if v == nil {
		if !c.Type.Valid() {
			return nil, errType
		}
		return nil, nil
	}
	if s, ok := v.(string); ok && s == "" && c.Type != coffer.TypeBoolean && c.Type.Valid() {
		return nil, nil
	}
	if parse, ok := parsers[c.Type]; ok {
		return parse(c, v)
	}
	return nil, errType
}

// A parser validates a JSON value other than nil and "" for column c and
// returns its storage form, for FromJSON.
type parser func(c *coffer.Column, v any) (any, error)

// parsers holds the parser of each column type that takes values.
var parsers = map[coffer.ColumnType]parser{
	coffer.TypeText:         textFromJSON,
	coffer.TypeLongText:     textFromJSON,
	coffer.TypeEmail:        emailFromJSON,
	coffer.TypeURL:          urlFromJSON,
	coffer.TypePhone:        phoneFromJSON,
	coffer.TypeNumber:       numberFromJSON,
	coffer.TypeBoolean:      booleanFromJSON,
	coffer.TypeDate:         dateFromJSON,
	coffer.TypeDateTime:     dateTimeFromJSON,
	coffer.TypeSingleSelect: singleFromJSON,
	coffer.TypeMultiSelect:  multiFromJSON,
	coffer.TypeLink:         linkFromJSON,
	coffer.TypeEncrypted:    encryptedFromJSON,
	coffer.TypePassword:     passwordFromJSON,
	coffer.TypeFile:         fileFromJSON,
}

// textFromJSON takes a string within the size of text or long_text,
// without control characters (nor line breaks in text).
func textFromJSON(c *coffer.Column, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, problem("must be a string")
	}
	max := MaxText
	if c.Type == coffer.TypeLongText {
		max = MaxLongText
	}
	if p := checkText(s, max, c.Type == coffer.TypeLongText); p != textOK {
		return nil, problem(textMessage(p, max))
	}
	return s, nil
}

// emailFromJSON takes an email address.
func emailFromJSON(_ *coffer.Column, v any) (any, error) {
	s, ok := v.(string)
	if !ok || !checkEmail(s) {
		return nil, problem("must be an email address like name@example.com")
	}
	return s, nil
}

// urlFromJSON takes an http or https URL.
func urlFromJSON(_ *coffer.Column, v any) (any, error) {
	s, ok := v.(string)
	if !ok || !checkURL(s) {
		return nil, problem("must be an http or https URL like https://example.com")
	}
	return s, nil
}

// phoneFromJSON takes a phone number.
func phoneFromJSON(_ *coffer.Column, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, problem("must be a phone number")
	}
	if msg := phoneMessage(s); msg != "" {
		return nil, problem(msg)
	}
	return s, nil
}

// numberFromJSON takes a number with at most the column's precision in
// decimals, exactly.
func numberFromJSON(c *coffer.Column, v any) (any, error) {
	s, ok := numberText(v)
	if !ok {
		return nil, problem("must be a number")
	}
	x, p := parseDecimal(s, c.Options.Precision)
	if p != numberOK {
		return nil, numberError(p, c.Options.Precision)
	}
	return x, nil
}

// booleanFromJSON takes true or false.
func booleanFromJSON(_ *coffer.Column, v any) (any, error) {
	b, ok := v.(bool)
	if !ok {
		return nil, problem("must be true or false")
	}
	return b, nil
}

// dateFromJSON takes a valid date "YYYY-MM-DD".
func dateFromJSON(_ *coffer.Column, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, problem("must be a date like 2024-01-31")
	}
	if _, _, _, ok := parseDate(s); !ok {
		return nil, problem("must be a valid date like 2024-01-31")
	}
	return s, nil
}

// dateTimeFromJSON takes an RFC 3339 date and time, at most to the
// microsecond.
func dateTimeFromJSON(_ *coffer.Column, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, problem(dateTimeMessage(timeSyntax))
	}
	micros, p := parseDateTime(s, false)
	if p != timeOK {
		return nil, problem(dateTimeMessage(p))
	}
	return micros, nil
}

// singleFromJSON takes one of the column's choices.
func singleFromJSON(c *coffer.Column, v any) (any, error) {
	s, ok := v.(string)
	if !ok || !isChoice(c.Options.Choices, s) {
		return nil, notAChoice(c.Options.Choices)
	}
	return s, nil
}

// dateTimeMessage is the FromJSON message for a datetime with problem p.
func dateTimeMessage(p timeProblem) string {
	switch p {
	case timePrecise:
		return "must not be more precise than microseconds"
	case timeRange:
		return "is out of range (years 0001 to 9999 in UTC)"
	}
	return "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"
}

// ToJSON formats a stored value for output: a string, a json.Number (with
// exactly the column's precision in decimals), a bool, a []string (the
// choices of a multi_select, the record ids of a link) or nil. Besides the
// storage forms it reads what database drivers return: int64, float64,
// []byte, string, bool, time.Time and []string. A value it cannot read, which
// a sound database never holds, gives nil.
func ToJSON(c *coffer.Column, stored any) any {
	if c == nil || stored == nil {
		return nil
	}
	v, ok := normalize(c, stored)
	if !ok || v == nil {
		return nil
	}
	switch c.Type {
	case coffer.TypeNumber:
		return jsonNumber(v.(int64), c.Options.Precision)
	case coffer.TypeDateTime, coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
		return formatDateTime(v.(int64))
	case coffer.TypeEncrypted:
		return Sealed{B64: v.(string)}
	case coffer.TypePassword:
		return PasswordHash{hash: v.(string)}
	}
	return v
}

// FromFilter converts a literal of the filter language (a string, a
// json.Number or a bool) to the storage form it is compared with in column
// c: one choice (a plain string) for a multi_select, one record id for a
// link. Dates take "YYYY-MM-DD"; datetimes take RFC 3339 or a date, taken
// as midnight UTC. A number may have at most the column's precision in
// decimals. Strings of the text types are returned as they are, even "",
// so that the caller decides how to compare them.
func FromFilter(c *coffer.Column, literal any) (any, error) {
	if c == nil {
		return nil, errNoColumn
	}
	if literal == nil {
		return nil, nil
	}
	s, isString := literal.(string)
	switch c.Type {
	case coffer.TypeEncrypted, coffer.TypePassword:
		return nil, problem("is a secret column and cannot be filtered or sorted")
	case coffer.TypeText, coffer.TypeLongText, coffer.TypeEmail, coffer.TypeURL,
		coffer.TypePhone, coffer.TypeCreatedBy, coffer.TypeUpdatedBy:
		if !isString {
			return nil, problem("must be compared with a string")
		}
		if p := checkText(s, MaxLongText, true); p != textOK {
			return nil, problem(textMessage(p, MaxLongText))
		}
		return s, nil
	case coffer.TypeNumber:
		text, ok := numberText(literal)
		if _, isBool := literal.(bool); !ok || isBool {
			return nil, problem("must be compared with a number")
		}
		x, p := parseDecimal(text, c.Options.Precision)
		if p != numberOK {
			return nil, numberError(p, c.Options.Precision)
		}
		return x, nil
	case coffer.TypeBoolean:
		b, ok := literal.(bool)
		if !ok {
			return nil, problem("must be compared with true or false")
		}
		return b, nil
	case coffer.TypeDate:
		if _, _, _, ok := parseDate(s); !isString || !ok {
			return nil, problem("must be compared with a date like 2024-01-31")
		}
		return s, nil
	case coffer.TypeDateTime, coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
		if !isString {
			return nil, problem("must be compared with a date like 2024-01-31 or a date and time like 2024-01-31T09:30:00Z")
		}
		micros, p := parseDateOrDateTime(s)
		if p == timeSyntax {
			return nil, problem("must be compared with a date like 2024-01-31 or a date and time like 2024-01-31T09:30:00Z")
		}
		if p != timeOK {
			return nil, problem(dateTimeMessage(p))
		}
		return micros, nil
	case coffer.TypeSingleSelect, coffer.TypeMultiSelect:
		if !isString || !isChoice(c.Options.Choices, s) {
			return nil, notAChoice(c.Options.Choices)
		}
		return s, nil
	case coffer.TypeLink:
		if !isString || !coffer.ValidID(coffer.PrefixRecord, s) {
			return nil, problem("must be compared with a record id")
		}
		return s, nil
	case coffer.TypeFile:
		return nil, problem("holds files and cannot be compared: test it with `is null` or `is not null`")
	}
	return nil, errType
}
