package value

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

func jsonNumber(x int64, prec int) json.Number {
	return json.Number(formatDecimal(x, prec))
}

// normalize reads a stored value of column c, in its storage form or as a
// database driver returns it, and returns it as string (text types, date,
// single_select), int64 (number, datetime types), bool (boolean), []string
// (multi_select, link) or nil for an empty value. It reports false for a
// value it cannot read.
func normalize(c *coffer.Column, stored any) (any, bool) {
	if stored == nil {
		return nil, true
	}
	if read, ok := readers[c.Type]; ok {
		return read(stored)
	}
	return nil, false
}

// A reader reads a stored value other than nil for normalize.
type reader func(stored any) (any, bool)

// readers holds the reader of each column type.
var readers = map[coffer.ColumnType]reader{
	coffer.TypeText:         readString,
	coffer.TypeLongText:     readString,
	coffer.TypeEmail:        readString,
	coffer.TypeURL:          readString,
	coffer.TypePhone:        readString,
	coffer.TypeSingleSelect: readString,
	coffer.TypeCreatedBy:    readString,
	coffer.TypeUpdatedBy:    readString,
	coffer.TypeNumber:       readNumber,
	coffer.TypeDateTime:     readDateTime,
	coffer.TypeCreatedAt:    readDateTime,
	coffer.TypeUpdatedAt:    readDateTime,
	coffer.TypeBoolean:      readBoolean,
	coffer.TypeDate:         readDate,
	coffer.TypeMultiSelect:  readMultiSelect,
	coffer.TypeLink:         readLink,
	coffer.TypeEncrypted:    readString,
	coffer.TypePassword:     readString,
	coffer.TypeFile:         readFiles,
}

// readString reads a string; "" is empty.
func readString(stored any) (any, bool) {
	s, ok := storedString(stored)
	if !ok {
		return nil, false
	}
	if s == "" {
		return nil, true
	}
	return s, true
}

// readNumber reads a number's scaled integer.
func readNumber(stored any) (any, bool) {
	x, ok := storedInt(stored)
	return x, ok
}

// readDateTime reads microseconds from a time.Time, an integer or RFC 3339
// text; "" is empty.
func readDateTime(stored any) (any, bool) {
	if t, ok := stored.(time.Time); ok {
		return t.UnixMicro(), true
	}
	if x, ok := storedInt(stored); ok {
		return x, true
	}
	s, ok := storedString(stored)
	if !ok {
		return nil, false
	}
	if s == "" {
		return nil, true
	}
	micros, p := parseDateTime(s, true)
	return micros, p == timeOK
}

// readBoolean reads a bool, its text ("true", "0", ...) or an integer
// (anything but 0 is true).
func readBoolean(stored any) (any, bool) {
	switch x := stored.(type) {
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(x)
		return b, err == nil
	case []byte:
		b, err := strconv.ParseBool(string(x))
		return b, err == nil
	}
	x, ok := storedInt(stored)
	return x != 0, ok
}

// readDate reads "YYYY-MM-DD" from a time.Time (its UTC day), a date, or
// a date and time; "" is empty.
func readDate(stored any) (any, bool) {
	if t, ok := stored.(time.Time); ok {
		return dateOf(t.UnixMicro())
	}
	s, ok := storedString(stored)
	if !ok {
		return nil, false
	}
	if s == "" {
		return nil, true
	}
	if _, _, _, ok := parseDate(s); ok {
		return s, true
	}
	if micros, p := parseDateTime(s, true); p == timeOK {
		return dateOf(micros)
	}
	return nil, false
}

// readMultiSelect reads choices from a []string or a JSON array; an
// empty list or "" is empty.
func readMultiSelect(stored any) (any, bool) {
	if list, ok := stringList(stored); ok {
		return listValue(append([]string(nil), list...)), true
	}
	s, ok := storedString(stored)
	if !ok {
		return nil, false
	}
	if s == "" {
		return nil, true
	}
	list, ok := decodeChoices(s)
	if !ok {
		return nil, false
	}
	return listValue(list), true
}

// readLink reads record ids from a []string, a JSON array (e.g. SQLite's
// json_group_array) or a single id; an empty list or "" is empty.
func readLink(stored any) (any, bool) {
	if list, ok := stringList(stored); ok {
		return listValue(append([]string(nil), list...)), true
	}
	s, ok := storedString(stored)
	if !ok {
		return nil, false
	}
	if strings.HasPrefix(s, "[") {
		list, ok := decodeChoices(s)
		if !ok {
			return nil, false
		}
		return listValue(list), true
	}
	if s == "" {
		return nil, true
	}
	return []string{s}, true
}

// storedString reads a stored string.
func storedString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// storedInt reads a stored integer. A float64 counts when it holds an
// integer that an int64 can represent.
func storedInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
			return 0, false
		}
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// listValue returns a list, or an untyped nil when it is empty.
func listValue(list []string) any {
	if len(list) == 0 {
		return nil
	}
	return list
}
