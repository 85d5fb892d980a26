package value

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
)

// isChoice reports whether s is one of the choices.
func isChoice(choices []string, s string) bool {
	for _, c := range choices {
		if c == s {
			return true
		}
	}
	return false
}

// choiceList lists the first 10 choices for a message.
func choiceList(choices []string) string {
	const max = 10
	n := min(len(choices), max)
	parts := make([]string, n)
	for i, c := range choices[:n] {
		parts[i] = quote(c)
	}
	s := strings.Join(parts, ", ")
	if len(choices) > max {
		s += fmt.Sprintf(" and %d more", len(choices)-max)
	}
	return s
}

// notAChoice is the FromJSON message for a value that is not a choice.
func notAChoice(choices []string) error {
	if len(choices) == 0 {
		return problem("cannot hold a value: the column has no choices")
	}
	return problem("must be one of " + choiceList(choices))
}

// orderChoices returns the selected values in the order of the choices,
// without duplicates; nil for an empty selection.
func orderChoices(choices []string, selected []string) []string {
	if len(selected) == 0 {
		return nil
	}
	set := make(map[string]bool, len(selected))
	for _, s := range selected {
		set[s] = true
	}
	var out []string
	for _, c := range choices {
		if set[c] {
			out = append(out, c)
			delete(set, c) // a duplicated choice (never valid) counts once
		}
	}
	return out
}

// encodeChoices returns the storage form of a multi_select selection: a
// JSON array, or nil when empty.
func encodeChoices(list []string) any {
	if len(list) == 0 {
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(list); err != nil {
		panic("value: encoding strings failed: " + err.Error()) // cannot happen
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// decodeChoices reads a JSON array of strings.
func decodeChoices(s string) ([]string, bool) {
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, false
	}
	return nilIfEmpty(list), true
}

// stringList returns the elements of a JSON array of strings, or false if v
// is not one.
func stringList(v any) ([]string, bool) {
	switch x := v.(type) {
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	case []string:
		return x, true
	}
	return nil, false
}

func nilIfEmpty(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	return list
}

// multiFromJSON validates a multi_select value given as a JSON array.
func multiFromJSON(c *coffer.Column, v any) (any, error) {
	list, ok := stringList(v)
	if !ok {
		return nil, problem("must be an array of choices")
	}
	for _, s := range list {
		if !isChoice(c.Options.Choices, s) {
			if len(c.Options.Choices) == 0 {
				return nil, notAChoice(nil)
			}
			return nil, problemf("contains %s, which is not one of %s", quote(s), choiceList(c.Options.Choices))
		}
	}
	return encodeChoices(orderChoices(c.Options.Choices, list)), nil
}

// linkFromJSON validates a link value: a record id or an array of them.
func linkFromJSON(c *coffer.Column, v any) (any, error) {
	multiple := c.Options.Multiple
	var list []string
	if s, ok := v.(string); ok {
		if multiple {
			return nil, problem("must be an array of record ids")
		}
		if s == "" {
			return nil, nil
		}
		list = []string{s}
	} else if l, ok := stringList(v); ok {
		list = l
	} else if multiple {
		return nil, problem("must be an array of record ids")
	} else {
		return nil, problem("must be a record id")
	}
	seen := make(map[string]bool, min(len(list), MaxLinks+1))
	var ids []string
	for _, id := range list {
		if !coffer.ValidID(coffer.PrefixRecord, id) {
			if !multiple && len(list) == 1 {
				return nil, problem("must be a record id")
			}
			return nil, problemf("must hold record ids: %s is not one", quote(id))
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
		if !multiple && len(ids) > 1 {
			return nil, problem("must hold at most one record")
		}
		if len(ids) > MaxLinks {
			return nil, problemf("must hold at most %d records", MaxLinks)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}
