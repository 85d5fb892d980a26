package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
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
// changes are recorded in the audit log as made by "cli", from "cli".
func cliCaller(ctx context.Context) context.Context {
	if coffer.ClientFrom(ctx).IP == "" {
		ctx = coffer.WithClient(ctx, coffer.Client{IP: "cli", UserAgent: "coffer CLI"})
	}
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

// required checks that every flag of vals was given; it names the missing
// ones, in alphabetical order.
func required(name string, vals map[string]string) error {
	var missing []string
	for _, flagName := range slices.Sorted(maps.Keys(vals)) {
		if strings.TrimSpace(vals[flagName]) == "" {
			missing = append(missing, "--"+flagName)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s: %s is required", name, missing[0])
	}
	return fmt.Errorf("%s: %s are required", name, strings.Join(missing, " and "))
}

// errUsage is returned by a command that printed its usage because its
// arguments were wrong: the exit code is 2.
var errUsage = errors.New("usage")

func cmdOrg(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = cliCaller(ctx)
	sub, args := orgSubcommand(args)
	run, ok := orgCommands[sub]
	if !ok {
		if isHelp(sub) {
			fmt.Fprint(stdout, orgUsage)
			return flag.ErrHelp
		}
		fmt.Fprint(stderr, orgUsage)
		return errUsage
	}
	cmd := "org " + sub
	a := &orgArgs{cmd: cmd}
	flags := a.define
	st, closeStore, err := adminCommand(ctx, cmd, args, stderr, flags)
	if err != nil {
		return err
	}
	defer closeStore()
	return run(ctx, st, a, stdout)
}

// orgSubcommand splits the subcommand of "coffer org" from its flags: one
// word, or two for member and group (member add, group create…).
func orgSubcommand(args []string) (sub string, rest []string) {
	if len(args) > 0 {
		sub = args[0]
		args = args[1:]
	}
	if (sub == "member" || sub == "group") && len(args) > 0 {
		sub += " " + args[0]
		args = args[1:]
	}
	return sub, args
}

// orgArgs holds the flags of an org subcommand, and its name for
// messages ("org member add").
type orgArgs struct {
	cmd                                          string
	org, name, owner, email, role, group, policy string
}

// define defines the flags of the org subcommands on fs.
func (a *orgArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.org, "org", "", "organization id")
	fs.StringVar(&a.name, "name", "", "name")
	fs.StringVar(&a.owner, "owner", "", "e-mail address of the first owner")
	fs.StringVar(&a.email, "email", "", "e-mail address of the user")
	fs.StringVar(&a.role, "role", coffer.OrgMember, "role: member, org-admin or org-owner")
	fs.StringVar(&a.group, "group", "", "group id")
	fs.StringVar(&a.policy, "json", "", "the whole policy as JSON")
}

// An orgCommand runs an org subcommand as the CLI caller and reports to
// stdout.
type orgCommand func(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error

// orgCommands holds the org subcommands by name.
var orgCommands = map[string]orgCommand{
	"create":        orgCreate,
	"list":          orgList,
	"members":       orgMembers,
	"member add":    orgMemberAdd,
	"member remove": orgMemberRemove,
	"group create":  orgGroupCreate,
	"group list":    orgGroupList,
	"group add":     orgGroupAdd,
	"group remove":  orgGroupRemove,
	"policy":        orgPolicy,
	"delete":        orgDelete,
}

// orgCreate creates an organization with its first owner.
func orgCreate(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	if err := required(a.cmd, map[string]string{"name": a.name, "owner": a.owner}); err != nil {
		return err
	}
	o, err := orgs.CreateOrganization(ctx, coffer.OrganizationInput{Name: a.name, Owner: a.owner})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created organization %s (id %s), owner %s\n", o.Name, o.ID, a.owner)
	return nil
}

// orgList lists the organizations: id and name.
func orgList(ctx context.Context, orgs coffer.OrgService, _ *orgArgs, stdout io.Writer) error {
	l, err := orgs.FindOrganizations(ctx)
	if err != nil {
		return err
	}
	for _, o := range l {
		fmt.Fprintf(stdout, "%s\t%s\n", o.ID, o.Name)
	}
	return nil
}

// orgMembers lists an organization's members: e-mail, role and user id.
func orgMembers(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	l, err := orgs.ListOrgMembers(ctx, a.org)
	if err != nil {
		return err
	}
	for _, m := range l {
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", m.User.Email, m.Role, m.User.ID)
	}
	return nil
}

// orgMemberAdd adds a member with a role, or changes a member's role.
func orgMemberAdd(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	if err := required(a.cmd, map[string]string{"org": a.org, "email": a.email}); err != nil {
		return err
	}
	m, created, err := orgs.SetOrgMember(ctx, a.org, a.email, a.role)
	if err != nil {
		return err
	}
	verb := "changed the role of"
	if created {
		verb = "added"
	}
	fmt.Fprintf(stdout, "%s %s as %s\n", verb, m.User.Email, m.Role)
	return nil
}

// orgMemberRemove removes a member.
func orgMemberRemove(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	if err := required(a.cmd, map[string]string{"org": a.org, "email": a.email}); err != nil {
		return err
	}
	if err := orgs.RemoveOrgMember(ctx, a.org, a.email); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %s\n", a.email)
	return nil
}

// orgGroupCreate creates a group.
func orgGroupCreate(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	if err := required(a.cmd, map[string]string{"org": a.org, "name": a.name}); err != nil {
		return err
	}
	g, err := orgs.CreateGroup(ctx, a.org, a.name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created group %s (id %s)\n", g.Name, g.ID)
	return nil
}

// orgGroupList lists an organization's groups: id, name and size.
func orgGroupList(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	l, err := orgs.FindGroups(ctx, a.org)
	if err != nil {
		return err
	}
	for _, g := range l {
		fmt.Fprintf(stdout, "%s\t%s\t%d members\n", g.ID, g.Name, len(g.Members))
	}
	return nil
}

// orgGroupAdd adds a member of the organization to a group.
func orgGroupAdd(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	return orgGroupMember(a, stdout, func() error { return orgs.AddGroupMember(ctx, a.org, a.group, a.email) })
}

// orgGroupRemove removes a user from a group.
func orgGroupRemove(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	return orgGroupMember(a, stdout, func() error { return orgs.RemoveGroupMember(ctx, a.org, a.group, a.email) })
}

// orgGroupMember checks the flags of group add and group remove, runs
// change and reports it done.
func orgGroupMember(a *orgArgs, stdout io.Writer, change func() error) error {
	if err := required(a.cmd, map[string]string{"org": a.org, "group": a.group, "email": a.email}); err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: done\n", a.cmd)
	return nil
}

// orgPolicy prints an organization's password policy as JSON, after
// replacing it with --json when given.
func orgPolicy(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	if err := required(a.cmd, map[string]string{"org": a.org}); err != nil {
		return err
	}
	var o *coffer.Organization
	var err error
	if a.policy == "" {
		o, err = orgs.FindOrganization(ctx, a.org)
	} else {
		var p coffer.Policy
		dec := json.NewDecoder(strings.NewReader(a.policy))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("org policy: --json is not a valid policy: %v", err)
		}
		o, err = orgs.UpdateOrganization(ctx, a.org, coffer.OrganizationUpdate{Policy: &p})
	}
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(o.Policy, "", "  ")
	fmt.Fprintf(stdout, "%s\n", b)
	return nil
}

// orgDelete deletes an organization.
func orgDelete(ctx context.Context, orgs coffer.OrgService, a *orgArgs, stdout io.Writer) error {
	if err := required(a.cmd, map[string]string{"org": a.org}); err != nil {
		return err
	}
	if err := orgs.DeleteOrganization(ctx, a.org); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted organization %s\n", a.org)
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
