package value

import "time"

const dateLayout = "2006-01-02"

// The instants of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, in
// microseconds since the Unix epoch: the range of datetimes.
const (
	minMicros = -62135596800000000
	maxMicros = 253402300799999999
)

// timeProblem says why a date or datetime could not be parsed.
type timeProblem int

const (
	timeOK      timeProblem = iota
	timeSyntax              // not the expected layout, or not a calendar date/time
	timePrecise             // nonzero digits beyond microseconds
	timeRange               // outside years 0001..9999 once in UTC
)

// parseDate parses "YYYY-MM-DD" exactly, for a valid calendar date with a
// year from 0001 to 9999.
func parseDate(s string) (y, m, d int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := atoi(s[0:4])
	m, ok2 := atoi(s[5:7])
	d, ok3 := atoi(s[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// atoi parses a run of ASCII digits.
func atoi(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, len(s) > 0
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseDateTime parses an RFC 3339 date and time with a zone offset or Z,
// ("2024-01-31T09:30:00.25+02:00") and returns its instant in microseconds
// since the Unix epoch. Fractional seconds may have any number of digits,
// but digits beyond microseconds must be zero. When loose is true, as for
// values read back from a database, a space may separate date and time and
// a missing zone means UTC.
func parseDateTime(s string, loose bool) (int64, timeProblem) {
	if len(s) < 19 {
		return 0, timeSyntax
	}
	y, mo, d, ok := parseDate(s[:10])
	if !ok {
		return 0, timeSyntax
	}
	if !(s[10] == 'T' || s[10] == 't' || loose && s[10] == ' ') || s[13] != ':' || s[16] != ':' {
		return 0, timeSyntax
	}
	h, ok1 := atoi(s[11:13])
	mi, ok2 := atoi(s[14:16])
	sec, ok3 := atoi(s[17:19])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || sec > 59 {
		return 0, timeSyntax
	}
	rest := s[19:]
	nanos := 0
	precise := false
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for ; i < len(rest) && isDigit(rest[i]); i++ {
			digit := int(rest[i] - '0')
			switch {
			case i <= 6:
				nanos = nanos*10 + digit
			case digit != 0:
				precise = true
			}
		}
		if i == 1 {
			return 0, timeSyntax
		}
		for j := min(i, 7); j < 7; j++ {
			nanos *= 10 // scale to microseconds
		}
		nanos *= 1000
		rest = rest[i:]
	}
	offset := 0 // seconds east of UTC
	switch {
	case rest == "Z" || rest == "z" || loose && rest == "":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := atoi(rest[1:3])
		om, ok2 := atoi(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, timeSyntax
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, timeSyntax
	}
	if precise {
		return 0, timePrecise
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, nanos, time.UTC).Add(-time.Duration(offset) * time.Second)
	micros := t.UnixMicro()
	if micros < minMicros || micros > maxMicros {
		return 0, timeRange
	}
	return micros, timeOK
}

// parseDateOrDateTime parses an RFC 3339 datetime, or a date taken as
// midnight UTC.
func parseDateOrDateTime(s string) (int64, timeProblem) {
	if y, m, d, ok := parseDate(s); ok {
		return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).UnixMicro(), timeOK
	}
	return parseDateTime(s, false)
}

// formatDateTime formats microseconds since the epoch as RFC 3339 in UTC.
func formatDateTime(micros int64) string {
	return time.UnixMicro(micros).UTC().Format(time.RFC3339Nano)
}

// dateOf returns the UTC date of an instant, or false outside years 0001..9999.
func dateOf(micros int64) (string, bool) {
	if micros < minMicros || micros > maxMicros {
		return "", false
	}
	return time.UnixMicro(micros).UTC().Format(dateLayout), true
}
