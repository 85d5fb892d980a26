package value

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// numberProblem says why a decimal could not be converted.
type numberProblem int

const (
	numberOK       numberProblem = iota
	numberSyntax                 // not a decimal number
	numberDecimals               // more decimal places than the precision
	numberRange                  // does not fit in an int64 once scaled
)

// pow10 holds the powers of ten that fit in an int64.
var pow10 = [...]int64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
}

// parseDecimal parses a decimal number ("-12.5", "1e3", "+.5") exactly and
// returns it multiplied by 10^prec. It never rounds: a value with more
// decimal places than prec is refused, as is one that overflows an int64.
// It uses no floating point, and its cost is linear in len(s) whatever the
// exponent.
func parseDecimal(s string, prec int) (int64, numberProblem) {
	if prec < 0 || prec > MaxPrecision {
		return 0, numberSyntax
	}
	d, ok := scanDecimal(s)
	if !ok {
		return 0, numberSyntax
	}
	return d.scaled(prec)
}

// decimal is a decimal number as written: ±digits × 10^(exp − frac).
type decimal struct {
	neg    bool
	digits []byte // the significant digits, without leading zeros
	frac   int    // digits after the point, leading zeros included
	exp    int64  // the exponent, saturated at 1e12 in magnitude
}

// scanDecimal reads all of s as [+-]digits[.digits][(e|E)[+-]digits],
// with at least one digit before the exponent. It reports false for
// anything else.
func scanDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	i, mantissa := d.scanMantissa(s, i)
	if mantissa == 0 {
		return d, false
	}
	i, ok := d.scanExponent(s, i)
	return d, ok && i == len(s)
}

// scanMantissa reads the digits and the fraction that start at s[i] into
// d.digits and d.frac. It returns the index after them and how many
// digits it read.
func (d *decimal) scanMantissa(s string, i int) (next, mantissa int) {
	for ; i < len(s) && isDigit(s[i]); i++ {
		mantissa++
		d.addDigit(s[i])
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && isDigit(s[i]); i++ {
			mantissa++
			d.frac++
			d.addDigit(s[i])
		}
	}
	return i, mantissa
}

// addDigit appends a digit to d.digits unless it is a leading zero.
func (d *decimal) addDigit(c byte) {
	if len(d.digits) > 0 || c != '0' {
		d.digits = append(d.digits, c)
	}
}

// scanExponent reads the exponent, if any, that starts at s[i] into d.exp.
// It returns the index after it, and false for an "e" without digits.
func (d *decimal) scanExponent(s string, i int) (int, bool) {
	if i >= len(s) || (s[i] != 'e' && s[i] != 'E') {
		return i, true
	}
	i++
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for ; i < len(s) && isDigit(s[i]); i++ {
		if d.exp < 1e12 { // saturate: anything this large is out of range anyway
			d.exp = d.exp*10 + int64(s[i]-'0')
		}
	}
	if neg {
		d.exp = -d.exp
	}
	return i, i > start
}

// scaled returns d × 10^prec as an int64, refusing a value that would
// need rounding (numberDecimals) or does not fit (numberRange).
func (d decimal) scaled(prec int) (int64, numberProblem) {
	digits, trailing := d.digits, 0
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		trailing++
	}
	if len(digits) == 0 {
		return 0, numberOK
	}
	// value = digits × 10^k once scaled by the precision.
	k := d.exp - int64(d.frac) + int64(trailing) + int64(prec)
	if k < 0 {
		return 0, numberDecimals
	}
	if int64(len(digits))+k > 19 {
		return 0, numberRange
	}
	var u uint64
	for _, c := range digits {
		u = u*10 + uint64(c-'0')
	}
	for ; k > 0; k-- {
		u *= 10 // cannot overflow: at most 19 digits in all
	}
	if d.neg {
		if u > 1<<63 {
			return 0, numberRange
		}
		return int64(-u), numberOK // -(1<<63) wraps to math.MinInt64, as it should
	}
	if u > math.MaxInt64 {
		return 0, numberRange
	}
	return int64(u), numberOK
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// formatDecimal formats x / 10^prec with exactly prec decimal places.
func formatDecimal(x int64, prec int) string {
	var u uint64
	neg := x < 0
	if neg {
		u = uint64(-x) // math.MinInt64 wraps to 1<<63, its magnitude
	} else {
		u = uint64(x)
	}
	s := strconv.FormatUint(u, 10)
	if prec > 0 {
		if len(s) <= prec {
			s = strings.Repeat("0", prec-len(s)+1) + s
		}
		s = s[:len(s)-prec] + "." + s[len(s)-prec:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// numberText returns the decimal text of a number given as JSON (json.Number),
// as a string, or as a Go number, for callers that build values in Go.
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case string:
		return x, true
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		// The shortest decimal that reads back as x: what a Go caller wrote.
		// Beyond 2^53 a float64 may already have lost digits (a decoder
		// without UseNumber): refuse it rather than store a rounded value.
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
			return "", false
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

// decimalsMessage is the FromJSON message for a number with too many decimals.
func decimalsMessage(prec int) string {
	switch prec {
	case 0:
		return "must be a whole number"
	case 1:
		return "must be a number with at most 1 decimal place"
	}
	return "must be a number with at most " + strconv.Itoa(prec) + " decimal places"
}

// numberError turns a parse problem into a FromJSON error.
func numberError(p numberProblem, prec int) error {
	switch p {
	case numberDecimals:
		return problem(decimalsMessage(prec))
	case numberRange:
		return problem("is out of range")
	}
	return problem("must be a number")
}
