package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cofferhq/coffer"
)

func cmdUserCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user create", stderr)
	email := fs.String("email", "", "e-mail address (the login)")
	name := fs.String("name", "", "the person's name")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	operator := fs.Bool("operator", false, "make the account an instance operator")
	sc := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*fromStdin {
		return errors.New("user create: pass --password-stdin and give the password on standard input (never on the command line)")
	}
	password, err := readPassword(stdin)
	if err != nil {
		return err
	}
	st, closeStore, err := openCLIStore(ctx, sc, "user create", stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx = coffer.WithClient(ctx, coffer.Client{IP: "cli", UserAgent: "coffer user create"})
	u, err := st.CreateUser(ctx, coffer.UserInput{Email: *email, Name: *name, Password: password, Operator: *operator})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s <%s> (id %s)\n", u.Name, u.Email, u.ID)
	return nil
}

// cmdUserResetPassword sets a new password for an account, for operators
// of an instance without e-mail (or a person locked out). It ends the
// account's sessions, unlocks it, keeps its second factors and records a
// password.reset event.
func cmdUserResetPassword(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user reset-password", stderr)
	email := fs.String("email", "", "e-mail address of the account")
	fromStdin := fs.Bool("password-stdin", false, "read the new password from the first line of standard input")
	sc := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*fromStdin {
		return errors.New("user reset-password: pass --password-stdin and give the new password on standard input (never on the command line)")
	}
	if *email == "" {
		return errors.New("user reset-password: pass --email")
	}
	password, err := readPassword(stdin)
	if err != nil {
		return err
	}
	st, closeStore, err := openCLIStore(ctx, sc, "user reset-password", stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := st.SetPassword(coffer.WithClient(ctx, coffer.Client{IP: "cli", UserAgent: "coffer user reset-password"}), *email, password); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password of %s reset; its sessions ended (second factors kept)\n", *email)
	return nil
}

// readPassword reads a password from the first line of stdin (never from
// the command line, where other users of the machine could see it).
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 8192)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
