package value

import (
	"strings"

	"github.com/cofferhq/coffer"
)

// Convert converts a value stored in column from to the storage form of
// column to: the same column after a change of type or options. A nil
// value gives (nil, nil). The error says why the value cannot be
// converted, for example `"abc" is not a number`.
//
// Every type converts to text through its JSON form, and text converts to
// every type by parsing; numbers, booleans, dates, datetimes and selects
// also convert among themselves. Link columns convert only between single
// and multiple, and automatic columns do not convert.
func Convert(from, to *coffer.Column, stored any) (any, error) {
	if stored == nil {
		return nil, nil
	}
	if from == nil || to == nil {
		return nil, errNoColumn
	}
	if !from.Type.Valid() || !to.Type.Valid() {
		return nil, errType
	}
	if from.Type.Automatic() || to.Type.Automatic() {
		return nil, problem("automatic columns cannot be converted")
	}
	if (from.Type == coffer.TypeFile) != (to.Type == coffer.TypeFile) {
		return nil, problem("file columns cannot be converted")
	}
	if (from.Type == coffer.TypeLink) != (to.Type == coffer.TypeLink) {
		return nil, problem("link columns cannot be converted")
	}
	if from.Type.Secret() || to.Type.Secret() {
		if from.Type != to.Type {
			return nil, problem("encrypted and password columns cannot be converted to or from other types")
		}
		return stored, nil
	}
	v, ok := normalize(from, stored)
	if !ok {
		return nil, problem("the stored value cannot be read")
	}
	if v == nil {
		return nil, nil
	}

	if convert, ok := converters[to.Type]; ok {
		return convert(from, to, v)
	}
	return nil, errType
}

// A converter turns a normalized value v of column from (see normalize)
// into the storage form of column to. v is never nil.
type converter func(from, to *coffer.Column, v any) (any, error)

// converters holds the converter of each column type a value can be
// converted to, keyed by the type of the destination column.
var converters = map[coffer.ColumnType]converter{
	coffer.TypeLink:         toLink,
	coffer.TypeFile:         toFile,
	coffer.TypeText:         toText,
	coffer.TypeLongText:     toText,
	coffer.TypeNumber:       toNumber,
	coffer.TypeBoolean:      toBoolean,
	coffer.TypeDate:         toDate,
	coffer.TypeDateTime:     toDateTime,
	coffer.TypeSingleSelect: toSingleSelect,
	coffer.TypeMultiSelect:  toMultiSelect,
	coffer.TypeEmail:        toContact,
	coffer.TypeURL:          toContact,
	coffer.TypePhone:        toContact,
}

// toFile keeps a file cell as it is: file columns convert only to
// themselves (Convert refuses the rest).
func toFile(_, _ *coffer.Column, v any) (any, error) {
	files, ok := v.([]coffer.File)
	if !ok {
		return nil, problem("the stored value cannot be read")
	}
	return EncodeFiles(files), nil
}

// toLink converts between single and multiple links: every id must be a
// record id, and a single link holds at most one.
func toLink(_, to *coffer.Column, v any) (any, error) {
	ids := v.([]string)
	for _, id := range ids {
		if !coffer.ValidID(coffer.PrefixRecord, id) {
			return nil, problemf("%s is not a record id", quote(id))
		}
	}
	if !to.Options.Multiple && len(ids) > 1 {
		return nil, problemf("holds %d records; a single link holds at most one", len(ids))
	}
	return ids, nil
}

// toText converts to text or long_text through the value's text form,
// which must then pass the checks of the destination type.
func toText(from, to *coffer.Column, v any) (any, error) {
	s := textForm(from, v)
	max := MaxText
	if to.Type == coffer.TypeLongText {
		max = MaxLongText
	}
	switch checkText(s, max, to.Type == coffer.TypeLongText) {
	case textLong:
		return nil, problemf("%s is longer than %d bytes", quote(s), max)
	case textUTF8:
		return nil, problem("the value is not valid UTF-8 text")
	case textLineBreak:
		return nil, problemf("%s contains a line break", quote(s))
	case textControl:
		return nil, problemf("%s contains a control character", quote(s))
	}
	return s, nil
}

// toNumber converts to a number with the destination's precision: a
// boolean gives 0 or 1, anything else is parsed from its text form.
func toNumber(from, to *coffer.Column, v any) (any, error) {
	prec := to.Options.Precision
	if b, ok := v.(bool); ok {
		if !b {
			return int64(0), nil
		}
		one, err := scaledOne(prec)
		if err != nil {
			return nil, err
		}
		return one, nil
	}
	s := strings.TrimSpace(textForm(from, v))
	x, p := parseDecimal(s, prec)
	if from.Type != coffer.TypeNumber {
		s = quote(s)
	}
	switch p {
	case numberSyntax:
		return nil, problemf("%s is not a number", s)
	case numberDecimals:
		return nil, decimalsProblem(s, prec)
	case numberRange:
		return nil, problemf("%s is out of range", s)
	}
	return x, nil
}

// decimalsProblem says that the number s has more decimal places than
// the precision prec allows.
func decimalsProblem(s string, prec int) error {
	switch prec {
	case 0:
		return problemf("%s is not a whole number", s)
	case 1:
		return problemf("%s has more than 1 decimal place", s)
	}
	return problemf("%s has more than %d decimal places", s, prec)
}

// toBoolean converts to a boolean: a number must be exactly 0 or 1, and
// text must be true, false, yes, no, 1 or 0 in any case (blank is empty).
func toBoolean(from, _ *coffer.Column, v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		if from.Type == coffer.TypeNumber {
			return numberToBoolean(x, from.Options.Precision)
		}
	}
	s := strings.TrimSpace(textForm(from, v))
	switch strings.ToLower(s) {
	case "":
		return nil, nil
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return nil, problemf("%s is not true, false, yes, no, 1 or 0", quote(s))
}

// numberToBoolean converts the stored number x, with precision prec, to
// false for 0 and true for 1.
func numberToBoolean(x int64, prec int) (any, error) {
	one, _ := scaledOne(prec)
	switch x {
	case 0:
		return false, nil
	case one:
		return true, nil
	}
	return nil, problemf("%s is not 0 or 1", formatDecimal(x, prec))
}

// toDate converts to a date: a datetime keeps its UTC day, and text must
// be a date or a date and time.
func toDate(from, _ *coffer.Column, v any) (any, error) {
	if from.Type == coffer.TypeDateTime {
		if d, ok := dateOf(v.(int64)); ok {
			return d, nil
		}
		return nil, problemf("%s is out of range", formatDateTime(v.(int64)))
	}
	s := strings.TrimSpace(textForm(from, v))
	if _, _, _, ok := parseDate(s); ok {
		return s, nil
	}
	micros, p := parseDateTime(s, false)
	switch p {
	case timeOK:
		d, _ := dateOf(micros) // in range: parseDateTime checked it
		return d, nil
	case timeRange:
		return nil, problemf("%s is out of range", quote(s))
	}
	return nil, problemf("%s is not a date (YYYY-MM-DD)", quote(s))
}

// toDateTime converts to a datetime: text must be a date (midnight UTC)
// or an RFC 3339 date and time.
func toDateTime(from, _ *coffer.Column, v any) (any, error) {
	if from.Type == coffer.TypeDateTime {
		return v, nil
	}
	s := strings.TrimSpace(textForm(from, v))
	micros, p := parseDateOrDateTime(s)
	switch p {
	case timePrecise:
		return nil, problemf("%s is more precise than microseconds", quote(s))
	case timeRange:
		return nil, problemf("%s is out of range", quote(s))
	case timeSyntax:
		return nil, problemf("%s is not a date and time (RFC 3339)", quote(s))
	}
	return micros, nil
}

// toSingleSelect converts to one of the destination's choices: a
// multi_select must hold at most one, text must name one (blank is empty).
func toSingleSelect(from, to *coffer.Column, v any) (any, error) {
	var s string
	if list, ok := v.([]string); ok { // from multi_select
		if len(list) > 1 {
			return nil, problemf("holds %d choices; a single select holds at most one", len(list))
		}
		s = list[0]
	} else {
		s = strings.TrimSpace(textForm(from, v))
		if s == "" {
			return nil, nil
		}
	}
	if !isChoice(to.Options.Choices, s) {
		return nil, problemf("%s is not one of the choices", quote(s))
	}
	return s, nil
}

// toMultiSelect converts to a set of the destination's choices, in the
// order of those choices; see namedChoices for what the source gives.
func toMultiSelect(from, to *coffer.Column, v any) (any, error) {
	list := namedChoices(from, to, v)
	for _, s := range list {
		if !isChoice(to.Options.Choices, s) {
			return nil, problemf("%s is not one of the choices", quote(s))
		}
	}
	return encodeChoices(orderChoices(to.Options.Choices, list)), nil
}

// namedChoices returns the choices a value of column from names for the
// multi_select column to: a select's own choices; otherwise the text
// form, taken whole when it is one of to's choices (a choice may hold a
// comma) or else split at commas, without blank parts.
func namedChoices(from, to *coffer.Column, v any) []string {
	switch from.Type {
	case coffer.TypeMultiSelect:
		return v.([]string)
	case coffer.TypeSingleSelect:
		return []string{v.(string)}
	}
	s := strings.TrimSpace(textForm(from, v))
	if isChoice(to.Options.Choices, s) {
		return []string{s}
	}
	var list []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			list = append(list, part)
		}
	}
	return list
}

// toContact converts to an email address, URL or phone number: the text
// form (trimmed unless the type stays the same) must pass the
// destination's check; blank is empty.
func toContact(from, to *coffer.Column, v any) (any, error) {
	s := textForm(from, v)
	if from.Type != to.Type {
		s = strings.TrimSpace(s)
	}
	if s == "" {
		return nil, nil
	}
	switch {
	case to.Type == coffer.TypeEmail && !checkEmail(s):
		return nil, problemf("%s is not an email address", quote(s))
	case to.Type == coffer.TypeURL && !checkURL(s):
		return nil, problemf("%s is not an http or https URL", quote(s))
	case to.Type == coffer.TypePhone && phoneMessage(s) != "":
		return nil, problemf("%s is not a phone number (3 to 20 digits, with spaces and + - ( ) .)", quote(s))
	}
	return s, nil
}

// scaledOne returns 1 in the storage form of a number with precision prec.
func scaledOne(prec int) (int64, error) {
	if prec < 0 || prec >= len(pow10) {
		return 0, problem("the column's precision is not valid")
	}
	return pow10[prec], nil
}

// textForm returns a normalized value of column c as text: its JSON form,
// with a multi_select's choices joined by ", ".
func textForm(c *coffer.Column, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int64:
		if c.Type == coffer.TypeNumber {
			return formatDecimal(x, c.Options.Precision)
		}
		return formatDateTime(x)
	case []string:
		return strings.Join(x, ", ")
	}
	return ""
}
