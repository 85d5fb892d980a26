package access

// Mutants returns deliberately broken variants of the engine, as changes
// to a compiled Plan, for the test that shows the property test catches
// leaks.
func Mutants() map[string]func(*Plan) {
	return map[string]func(*Plan){
		// Every cell of a visible row shown, masks forgotten.
		"cells unmasked": func(p *Plan) {
			for c := range p.masks {
				p.masks[c] = ""
			}
		},
		// Cells readable in some rows shown in all visible rows.
		"partial masks dropped": func(p *Plan) {
			for c, m := range p.masks {
				if m != "1=0" {
					p.masks[c] = ""
				}
			}
		},
		// Columns hidden everywhere shown.
		"hidden columns shown": func(p *Plan) {
			for c, m := range p.masks {
				if m == "1=0" {
					p.masks[c] = ""
				}
			}
		},
		// The row predicate forgotten: every row visible.
		"rows unfiltered": func(p *Plan) {
			if !p.Full {
				p.Row = "1=1"
			}
		},
		// Only the first condition counts for rows: rows lost.
		"rows from the first grant only": func(p *Plan) {
			if !p.Full && len(p.conds) > 1 && p.Row != "1=1" && p.Row != "1=0" {
				need := map[int]bool{}
				p.Row = p.or([]int{0}, need)
				if p.Row != "1=1" && p.Row != "1=0" && !need[0] {
					p.Row = "1=0"
				}
			}
		},
	}
}
