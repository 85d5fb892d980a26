package identity

import (
	"context"

	"github.com/cofferhq/coffer"
)

// SignInProviders lists the providers for the sign-in page's buttons.
func (s *Service) SignInProviders(ctx context.Context) ([]coffer.SignInProvider, error) {
	rows, err := s.Inst.R.QueryContext(ctx, "SELECT p.id, p.name, p.org_id, o.name FROM "+s.Inst.Prefix+"sso_providers p JOIN "+
		s.Inst.Prefix+"organizations o ON o.id = p.org_id ORDER BY o.name, p.name, p.id")
	if err != nil {
		return nil, s.Wrap("SignInProviders", err)
	}
	defer rows.Close()
	out := []coffer.SignInProvider{}
	orgs := map[string]bool{}
	for rows.Next() {
		var p coffer.SignInProvider
		var org string
		if err := rows.Scan(&p.ID, &p.Name, &org, &p.Organization); err != nil {
			return nil, s.Wrap("SignInProviders", err)
		}
		orgs[org] = true
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.Wrap("SignInProviders", err)
	}
	if len(orgs) < 2 {
		for i := range out {
			out[i].Organization = ""
		}
	}
	return out, nil
}
