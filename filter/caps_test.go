package filter_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
)

// TestCaps: a filter's size and number of comparisons are capped; past a
// cap the error has the stable code filter_too_complex (400), names the
// filter field and says which cap.
func TestCaps(t *testing.T) {
	terms := func(n int, sep string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = `name ~ "x"`
		}
		return strings.Join(parts, sep)
	}
	list := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = "1"
		}
		return "a in [" + strings.Join(parts, ",") + "]"
	}
	long := "a = \"" + strings.Repeat("x", filter.MaxLength-6) + "\""
	for _, tt := range []struct {
		src  string
		want string // "" for accepted
	}{
		{terms(filter.MaxTerms, " || "), ""},
		{terms(filter.MaxTerms, " && "), ""},
		{"(" + terms(filter.MaxTerms/2, " || ") + ") && !(" + terms(filter.MaxTerms/2, " || ") + ")", ""},
		{terms(filter.MaxTerms+1, " || "), "the filter has too many comparisons (more than 32)"},
		{terms(127, " || "), "the filter has too many comparisons (more than 32)"},
		{"(" + terms(filter.MaxTerms, " && ") + ") || a = 1", "the filter has too many comparisons (more than 32)"},
		{list(filter.MaxList), ""},
		{list(filter.MaxList + 1), "a list can hold at most 100 values"},
		{long, ""},
		{long + " ", "the filter is too long (more than 4096 bytes)"},
		{strings.Repeat("(", filter.MaxDepth+1) + "a = 1" + strings.Repeat(")", filter.MaxDepth+1), "the filter is nested too deeply (more than 32 levels)"},
	} {
		_, err := filter.Parse(tt.src)
		if tt.want == "" {
			if err != nil {
				t.Errorf("Parse(%.60q…): %v", tt.src, err)
			}
			continue
		}
		var e *coffer.Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%.60q…) = %v, want %q", tt.src, err, tt.want)
			continue
		}
		if e.Code != coffer.ETOOCOMPLEX || len(e.Fields) != 1 || e.Fields[0].Field != "filter" || !strings.HasSuffix(e.Fields[0].Message, tt.want) {
			t.Errorf("Parse(%.60q…) = %q %v, want %s about the filter: %q", tt.src, e.Code, e.Fields, coffer.ETOOCOMPLEX, tt.want)
		}
	}
}
