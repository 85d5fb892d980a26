package api

import (
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/cofferhq/coffer"
)

// checkParams refuses the query parameters that allowed does not accept
// (with the message unknown) and those given more than once.
func checkParams(qv url.Values, allowed func(string) bool, unknown string) []coffer.FieldError {
	var errs []coffer.FieldError
	for _, k := range slices.Sorted(maps.Keys(qv)) {
		switch {
		case !allowed(k):
			errs = append(errs, coffer.FieldError{Field: k, Message: unknown})
		case len(qv[k]) > 1:
			errs = append(errs, coffer.FieldError{Field: k, Message: "must be given once"})
		}
	}
	return errs
}

// timeWindow reads the parameters since and until (RFC 3339) of a list
// into since and until, and returns their problems.
func timeWindow(qv url.Values, since, until *time.Time) []coffer.FieldError {
	var errs []coffer.FieldError
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", since}, {"until", until}} {
		if v := qv.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				errs = append(errs, coffer.FieldError{Field: p.name, Message: "must be a time in RFC 3339 form, such as 2026-01-31T09:00:00Z"})
			}
			*p.to = t
		}
	}
	return errs
}
