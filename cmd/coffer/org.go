package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

const orgUsage = `Usage:
  coffer org create --name N --owner EMAIL
  coffer org list
  coffer org members --org ID
  coffer org member add --org ID --email E [--role member|org-admin|org-owner]
  coffer org member remove --org ID --email E
  coffer org group create --org ID --name N
  coffer org group list --org ID
  coffer org group add|remove --org ID --group ID --email E
  coffer org policy --org ID [--json '{"min_length":6,"require_upper":true,…}']
  coffer org delete --org ID
  coffer user deactivate|reactivate --email E
Each takes the storage flags --data DIR or --db postgres://… (and --db-schema).
`

// cliCaller is the caller of administration commands. The CLI runs on the
// server with direct access to the database (whoever can run it can read
// and change everything anyway), so it acts with operator authority; its
// changes are recorded in the events as made by "cli".
func cliCaller(ctx context.Context) context.Context {
	return coffer.WithCaller(ctx, &coffer.Caller{UserID: "cli", Name: "coffer CLI", Operator: true})
}

// adminCommand parses the flags of an administration command and
// opens the store.
func adminCommand(ctx context.Context, name string, args []string, stderr io.Writer, define func(fs *flag.FlagSet)) (*all.Store, func() error, error) {
	fs := newFlagSet(name, stderr)
	define(fs)
	sc := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return openCLIStore(ctx, sc, name, stderr)
}

func required(name string, vals map[string]string) error {
	for flagName, v := range vals {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("%s: --%s is required", name, flagName)
		}
	}
	return nil
}

// errUsage is returned by a command that printed its usage because its
// arguments were wrong: the exit code is 2.
var errUsage = errors.New("usage")

func cmdOrg(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = cliCaller(ctx)
	sub := ""
	if len(args) > 0 {
		sub = args[0]
		args = args[1:]
	}
	// Two-word commands: member add, group create…
	if (sub == "member" || sub == "group") && len(args) > 0 {
		sub += " " + args[0]
		args = args[1:]
	}
	var org, name, owner, email, role, group, policy string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&org, "org", "", "organization id")
		fs.StringVar(&name, "name", "", "name")
		fs.StringVar(&owner, "owner", "", "e-mail address of the first owner")
		fs.StringVar(&email, "email", "", "e-mail address of the user")
		fs.StringVar(&role, "role", coffer.OrgMember, "role: member, org-admin or org-owner")
		fs.StringVar(&group, "group", "", "group id")
		fs.StringVar(&policy, "json", "", "the whole policy as JSON")
	}
	cmd := "org " + sub
	switch sub {
	case "create", "list", "members", "member add", "member remove", "group create", "group list", "group add", "group remove", "policy", "delete":
	default:
		if isHelp(sub) {
			fmt.Fprint(stdout, orgUsage)
			return flag.ErrHelp
		}
		fmt.Fprint(stderr, orgUsage)
		return errUsage
	}
	st, closeStore, err := adminCommand(ctx, cmd, args, stderr, flags)
	if err != nil {
		return err
	}
	defer closeStore()
	switch sub {
	case "create":
		if err := required(cmd, map[string]string{"name": name, "owner": owner}); err != nil {
			return err
		}
		o, err := st.CreateOrganization(ctx, coffer.OrganizationInput{Name: name, Owner: owner})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created organization %s (id %s), owner %s\n", o.Name, o.ID, owner)
	case "list":
		l, err := st.FindOrganizations(ctx)
		if err != nil {
			return err
		}
		for _, o := range l {
			fmt.Fprintf(stdout, "%s\t%s\n", o.ID, o.Name)
		}
	case "members":
		l, err := st.ListOrgMembers(ctx, org)
		if err != nil {
			return err
		}
		for _, m := range l {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", m.User.Email, m.Role, m.User.ID)
		}
	case "member add":
		if err := required(cmd, map[string]string{"org": org, "email": email}); err != nil {
			return err
		}
		m, created, err := st.SetOrgMember(ctx, org, email, role)
		if err != nil {
			return err
		}
		verb := "changed the role of"
		if created {
			verb = "added"
		}
		fmt.Fprintf(stdout, "%s %s as %s\n", verb, m.User.Email, m.Role)
	case "member remove":
		if err := required(cmd, map[string]string{"org": org, "email": email}); err != nil {
			return err
		}
		if err := st.RemoveOrgMember(ctx, org, email); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", email)
	case "group create":
		if err := required(cmd, map[string]string{"org": org, "name": name}); err != nil {
			return err
		}
		g, err := st.CreateGroup(ctx, org, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created group %s (id %s)\n", g.Name, g.ID)
	case "group list":
		l, err := st.FindGroups(ctx, org)
		if err != nil {
			return err
		}
		for _, g := range l {
			fmt.Fprintf(stdout, "%s\t%s\t%d members\n", g.ID, g.Name, len(g.Members))
		}
	case "group add", "group remove":
		if err := required(cmd, map[string]string{"org": org, "group": group, "email": email}); err != nil {
			return err
		}
		if sub == "group add" {
			err = st.AddGroupMember(ctx, org, group, email)
		} else {
			err = st.RemoveGroupMember(ctx, org, group, email)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: done\n", cmd)
	case "policy":
		if err := required(cmd, map[string]string{"org": org}); err != nil {
			return err
		}
		var o *coffer.Organization
		if policy == "" {
			o, err = st.FindOrganization(ctx, org)
		} else {
			var p coffer.Policy
			dec := json.NewDecoder(strings.NewReader(policy))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				return fmt.Errorf("org policy: --json is not a valid policy: %v", err)
			}
			o, err = st.UpdateOrganization(ctx, org, coffer.OrganizationUpdate{Policy: &p})
		}
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(o.Policy, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	case "delete":
		if err := required(cmd, map[string]string{"org": org}); err != nil {
			return err
		}
		if err := st.DeleteOrganization(ctx, org); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted organization %s\n", org)
	}
	return nil
}

// cmdUserActive deactivates or reactivates an account.
func cmdUserActive(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	ctx = cliCaller(ctx)
	var email string
	st, closeStore, err := adminCommand(ctx, "user "+sub, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "e-mail address (or id) of the account")
	})
	if err != nil {
		return err
	}
	defer closeStore()
	if strings.TrimSpace(email) == "" {
		return errors.New("user " + sub + ": --email is required")
	}
	if sub == "deactivate" {
		err = st.DeactivateUser(ctx, email)
	} else {
		err = st.ReactivateUser(ctx, email)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%sd %s\n", sub, email)
	return nil
}

// cmdUserSessions lists the open sessions and the API keys of an account
// and, with --end, ends every session and revokes every key: what an
// operator does when an account is compromised but should stay active.
func cmdUserSessions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = cliCaller(ctx)
	var email string
	var end bool
	st, closeStore, err := adminCommand(ctx, "user sessions", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "e-mail address (or id) of the account")
		fs.BoolVar(&end, "end", false, "end every session and revoke every API key of the account")
	})
	if err != nil {
		return err
	}
	defer closeStore()
	if strings.TrimSpace(email) == "" {
		return errors.New("user sessions: --email is required")
	}
	sessions, err := st.ListSessions(ctx, email)
	if err != nil {
		return err
	}
	keys, err := st.ListAPIKeys(ctx, email)
	if err != nil {
		return err
	}
	for _, si := range sessions {
		fmt.Fprintf(stdout, "session %s  %s%s  from %s  since %s  last seen %s  ends %s\n", si.ID, si.Method, map[bool]string{true: "+2fa"}[si.MFA],
			orDash(si.IP), si.CreatedAt.Format(time.RFC3339), si.LastSeenAt.Format(time.RFC3339), si.ExpiresAt.Format(time.RFC3339))
	}
	for _, k := range keys {
		scope := "read-write"
		if k.ReadOnly {
			scope = "read-only"
		}
		fmt.Fprintf(stdout, "api key %s  %q  %s  created %s\n", k.ID, k.Name, scope, k.CreatedAt.Format(time.RFC3339))
	}
	if len(sessions) == 0 && len(keys) == 0 {
		fmt.Fprintln(stdout, "no open session and no API key")
	}
	if !end {
		return nil
	}
	for _, si := range sessions {
		if err := st.RevokeSession(ctx, si.ID); err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
			return err
		}
	}
	for _, k := range keys {
		if err := st.RevokeAPIKey(ctx, k.ID); err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
			return err
		}
	}
	fmt.Fprintf(stdout, "ended %d sessions and revoked %d API keys\n", len(sessions), len(keys))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
