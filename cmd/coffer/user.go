package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cofferhq/coffer"
)

func cmdUserCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	line, err := bufio.NewReader(io.LimitReader(stdin, 8192)).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	st, closeStore, err := openStore(ctx, sc, func(w string) { fmt.Fprintln(stderr, "WARNING:", w) })
	if err != nil {
		return err
	}
	defer closeStore()
	u, err := st.CreateUser(ctx, coffer.UserInput{Email: *email, Name: *name, Password: password, Operator: *operator})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s <%s> (id %s)\n", u.Name, u.Email, u.ID)
	return nil
}
