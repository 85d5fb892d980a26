package filter

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Eval is the reference evaluator: it reports whether the row matches e,
// with the same checks, errors and semantics as Compile. row returns the
// storage value of the field with the given name (Field.Name): nil when
// empty, []string (or []any) for list fields, where an empty list is empty
// too. A nil e matches every row.
//
// Values compare as SQLite compares them without affinity: numbers
// (integers, floats and booleans as 0 and 1) by value, before text
// compared bytewise, before []byte compared bytewise. '~' compares
// strings.ToLower of both sides.
func Eval(e Expr, s Schema, env Env, row func(name string) any) (bool, error) {
	n, err := check(e, s, env)
	if err != nil {
		return false, err
	}
	if row == nil {
		return false, coffer.Internal("filter.Eval", fmt.Errorf("nil row"))
	}
	return eval(n, row), nil
}

func eval(n node, row func(string) any) bool {
	switch n := n.(type) {
	case constNode:
		return bool(n)
	case notNode:
		return !eval(n.x, row)
	case andNode:
		for _, t := range n {
			if !eval(t, row) {
				return false
			}
		}
		return true
	case orNode:
		for _, t := range n {
			if eval(t, row) {
				return true
			}
		}
		return false
	case leaf:
		return evalLeaf(n, row(n.f.Name))
	}
	return false
}

func evalLeaf(l leaf, v any) bool {
	switch l.kind {
	case lNull:
		return v == nil
	case lEmpty:
		return len(asList(v)) == 0
	case lHas:
		for _, el := range asList(v) {
			if el != nil && compare(el, l.vals[0]) == 0 {
				return true
			}
		}
		return false
	}
	if v == nil {
		return false
	}
	switch l.kind {
	case lEq:
		return compare(v, l.vals[0]) == 0
	case lLt:
		return compare(v, l.vals[0]) < 0
	case lLe:
		return compare(v, l.vals[0]) <= 0
	case lGt:
		return compare(v, l.vals[0]) > 0
	case lGe:
		return compare(v, l.vals[0]) >= 0
	case lIn:
		for _, x := range l.vals {
			if compare(v, x) == 0 {
				return true
			}
		}
		return false
	case lContains:
		return strings.Contains(strings.ToLower(text(v)), strings.ToLower(l.needle))
	}
	return false
}

// asList returns the elements of a list value.
func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	}
	return []any{v}
}

// text returns the text of a value for '~'.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}

// Storage classes, in SQLite's order.
const (
	classNumber = iota
	classText
	classBlob
)

// class returns the storage class of v and, for numbers, its value as an
// int64 (exact is set) or a float64.
func class(v any) (cls int, i int64, f float64, exact bool) {
	switch v := v.(type) {
	case int:
		return classNumber, int64(v), 0, true
	case int8:
		return classNumber, int64(v), 0, true
	case int16:
		return classNumber, int64(v), 0, true
	case int32:
		return classNumber, int64(v), 0, true
	case int64:
		return classNumber, v, 0, true
	case uint8:
		return classNumber, int64(v), 0, true
	case uint16:
		return classNumber, int64(v), 0, true
	case uint32:
		return classNumber, int64(v), 0, true
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return classNumber, int64(v), 0, true
		}
		return classNumber, 0, float64(v), false
	case uint64:
		if v <= math.MaxInt64 {
			return classNumber, int64(v), 0, true
		}
		return classNumber, 0, float64(v), false
	case float32:
		return classNumber, 0, float64(v), false
	case float64:
		return classNumber, 0, v, false
	case bool:
		if v {
			return classNumber, 1, 0, true
		}
		return classNumber, 0, 0, true
	case []byte:
		return classBlob, 0, 0, false
	}
	return classText, 0, 0, false
}

// compare compares two non-nil values as SQLite does without affinity.
func compare(a, b any) int {
	ca, ia, fa, ea := class(a)
	cb, ib, fb, eb := class(b)
	if ca != cb {
		return cmp3(ca, cb)
	}
	switch ca {
	case classNumber:
		switch {
		case ea && eb:
			return cmp3(ia, ib)
		case ea:
			return -compareFloatInt(fb, ib)
		case eb:
			return compareFloatInt(fa, ib)
		}
		return cmp3(fa, fb)
	case classBlob:
		return bytes.Compare(a.([]byte), b.([]byte))
	}
	return strings.Compare(textOf(a), textOf(b))
}

// textOf returns the text of a value of the text class.
func textOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// compareFloatInt compares f with i exactly.
func compareFloatInt(f float64, i int64) int {
	switch {
	case math.IsNaN(f):
		return -1
	case f < -9223372036854775808.0:
		return -1
	case f >= 9223372036854775808.0:
		return 1
	}
	t := math.Trunc(f)
	ti := int64(t)
	if ti != i {
		return cmp3(ti, i)
	}
	return cmp3(f, t)
}

func cmp3[T int | int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
