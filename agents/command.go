package agents

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// AdminCreateCommand is `serambi admin create --email --name --password`: it creates an admin
// account. `--password -` reads the password from the first line of stdin, which keeps it out of
// the process list and shell history. args are the arguments after "admin create".
func AdminCreateCommand(ctx context.Context, s *Service, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("serambi admin create", flag.ContinueOnError)
	fs.SetOutput(stdout)
	email := fs.String("email", "", "the admin's email address (their login)")
	name := fs.String("name", "", "the admin's display name")
	password := fs.String("password", "", "at least 10 characters; - reads it from stdin")
	locale := fs.String("locale", "en", "console language: en or id")
	tz := fs.String("timezone", "Asia/Jakarta", "IANA time zone for dates in the console")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every value is a --flag", fs.Args())
	}
	var missing []string
	for flagName, v := range map[string]string{"--email": *email, "--name": *name, "--password": *password} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, flagName)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: usage: serambi admin create --email a@b.id --name 'Your Name' --password -", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	if *password == "-" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password from stdin: %w", err)
		}
		*password = strings.TrimRight(line, "\r\n")
	}
	a, err := s.Create(ctx, NewAgent{Email: *email, Name: *name, Password: *password, Role: RoleAdmin, Locale: *locale, Timezone: *tz})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "admin %s <%s> created (id %s)\n", a.Name, a.Email, a.ID)
	return err
}
