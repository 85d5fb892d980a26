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
	switch c.Type {
	case coffer.TypeText, coffer.TypeLongText, coffer.TypeEmail, coffer.TypeURL, coffer.TypePhone,
		coffer.TypeSingleSelect, coffer.TypeCreatedBy, coffer.TypeUpdatedBy:
		s, ok := storedString(stored)
		if !ok {
			return nil, false
		}
		if s == "" {
			return nil, true
		}
		return s, true
	case coffer.TypeNumber:
		x, ok := storedInt(stored)
		return x, ok
	case coffer.TypeDateTime, coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
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
	case coffer.TypeBoolean:
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
	case coffer.TypeDate:
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
	case coffer.TypeMultiSelect:
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
	case coffer.TypeLink:
		if list, ok := stringList(stored); ok {
			return listValue(append([]string(nil), list...)), true
		}
		s, ok := storedString(stored)
		if !ok {
			return nil, false
		}
		if strings.HasPrefix(s, "[") { // e.g. SQLite's json_group_array
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
	return nil, false
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
