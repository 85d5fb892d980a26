package value

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
)

// CheckOptions validates the options of a column of type t and normalizes
// them in place (choices and table are trimmed of surrounding spaces). It
// returns every problem, with fields such as "options.precision" or
// "options.choices[2]", or nil when the options are valid.
//
// Precision (0..9) belongs to number columns; choices, required and
// unique, to select columns; table, required, and multiple to link
// columns. Other types, automatic ones included, take no options. The
// store resolves the table of a link column.
func CheckOptions(t coffer.ColumnType, o *coffer.ColumnOptions) []coffer.FieldError {
	if !t.Valid() {
		return []coffer.FieldError{{Field: "type", Message: "must be one of " + typeList()}}
	}
	if o == nil {
		o = &coffer.ColumnOptions{}
	}
	var errs []coffer.FieldError
	add := func(field, format string, a ...any) {
		errs = append(errs, coffer.FieldError{Field: field, Message: fmt.Sprintf(format, a...)})
	}

	switch {
	case t == coffer.TypeNumber:
		if o.Precision < 0 || o.Precision > MaxPrecision {
			add("options.precision", "must be between 0 and %d", MaxPrecision)
		}
	case o.Precision != 0:
		add("options.precision", "applies only to number columns")
	}

	isSelect := t == coffer.TypeSingleSelect || t == coffer.TypeMultiSelect
	switch {
	case isSelect && len(o.Choices) == 0:
		add("options.choices", "must list at least one choice")
	case isSelect && len(o.Choices) > MaxChoices:
		add("options.choices", "must list at most %d choices", MaxChoices)
	case isSelect:
		// Normalized in a copy: the caller's slice may be shared (a
		// table of choices reused across requests or goroutines).
		o.Choices = slices.Clone(o.Choices)
		first := make(map[string]int, len(o.Choices))
		for i, c := range o.Choices {
			c = strings.TrimSpace(c)
			o.Choices[i] = c
			field := fmt.Sprintf("options.choices[%d]", i)
			n := utf8.RuneCountInString(c)
			switch {
			case c == "":
				add(field, "must not be empty")
			case n > MaxChoiceLen:
				add(field, "must be at most %d characters long", MaxChoiceLen)
			case checkText(c, MaxText, false) != textOK:
				add(field, "must be valid UTF-8 text on one line, without control characters")
			default:
				if j, dup := first[c]; dup {
					add(field, "repeats options.choices[%d]", j)
				} else {
					first[c] = i
				}
			}
		}
	case len(o.Choices) > 0:
		add("options.choices", "apply only to single_select and multi_select columns")
	}

	o.Table = strings.TrimSpace(o.Table)
	switch {
	case t == coffer.TypeLink && o.Table == "":
		add("options.table", "is required for a link column")
	case t != coffer.TypeLink && o.Table != "":
		add("options.table", "applies only to link columns")
	}
	if t != coffer.TypeLink && o.Multiple {
		add("options.multiple", "applies only to link columns")
	}
	switch o.Collation {
	case "", coffer.CollationUnicode:
		o.Collation = "" // the default
	case coffer.CollationBinary:
		if !Collatable(t) {
			add("options.collation", "applies only to text, long_text, email, url, phone and single_select columns")
		}
	default:
		add("options.collation", "must be %q or %q", coffer.CollationUnicode, coffer.CollationBinary)
	}
	if t != coffer.TypeEncrypted && (o.Password != "" || o.CurrentPassword != "" || o.Encryption != nil) {
		add("options.password", "applies only to encrypted columns")
	}
	return errs
}

// Collatable reports whether columns of type t hold one text each, which
// sorts by a collation (ColumnOptions.Collation).
func Collatable(t coffer.ColumnType) bool {
	switch t {
	case coffer.TypeText, coffer.TypeLongText, coffer.TypeEmail, coffer.TypeURL, coffer.TypePhone, coffer.TypeSingleSelect:
		return true
	}
	return false
}

func typeList() string {
	names := make([]string, len(coffer.ColumnTypes))
	for i, t := range coffer.ColumnTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
