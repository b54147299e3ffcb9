// Package keys is the command behind cmd/keys: it creates, lists and revokes the named API keys
// of agents straight in the table (the API's POST/GET/DELETE /api/keys do the same for an admin
// key). A created key is printed once and never again: only its hash is stored.
package keys

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
)

// Store is what the commands need (implemented by *store.Store).
type Store interface {
	CreateAPIKey(ctx context.Context, k domain.APIKey) error
	ListAPIKeys(ctx context.Context) ([]domain.APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, now time.Time) (domain.APIKey, error)
}

const usage = `usage:
  keys [--table T] create --name NAME [--channels ID,ID…] [--admin]
  keys [--table T] list
  keys [--table T] revoke KEY_ID`

// Run runs the command with its arguments (without the program name) and returns the exit
// status: 0 done, 1 failed, 2 usage. open opens the store of a table.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, open func(table string) (Store, error)) int {
	global := flag.NewFlagSet("keys", flag.ContinueOnError)
	global.SetOutput(stderr)
	table := global.String("table", getenv("TABLE_NAME"), "DynamoDB table (default $TABLE_NAME)")
	if err := global.Parse(args); err != nil {
		return 2
	}
	rest := global.Args()
	if len(rest) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if *table == "" {
		fmt.Fprintln(stderr, "keys: set TABLE_NAME or --table")
		return 2
	}
	st, err := open(*table)
	if err != nil {
		fmt.Fprintln(stderr, "keys:", err)
		return 1
	}
	switch rest[0] {
	case "create":
		err = create(ctx, st, rest[1:], stdout, stderr)
	case "list":
		err = list(ctx, st, stdout)
	case "revoke":
		if len(rest) != 2 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		var k domain.APIKey
		k, err = st.RevokeAPIKey(ctx, rest[1], time.Now())
		if err == nil {
			fmt.Fprintf(stdout, "revoked %s (%s), effective now\n", k.ID, k.Name)
		}
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "keys:", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func create(ctx context.Context, st Store, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the agent's name (shown on replies)")
	channels := fs.String("channels", "", "comma-separated channel (Instagram account) ids the key is limited to; empty = all")
	admin := fs.Bool("admin", false, "the key may manage keys")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errUsage
	}
	var chs []string
	for _, c := range strings.Split(*channels, ",") {
		if c = strings.TrimSpace(c); c != "" {
			chs = append(chs, c)
		}
	}
	k, secret, err := api.NewAPIKey(api.KeyRequest{Name: *name, Channels: chs, Admin: *admin}, time.Now())
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return errors.New(ae.Message)
		}
		return err
	}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	scope := "all channels"
	if len(k.Channels) > 0 {
		scope = "channels " + strings.Join(k.Channels, ",")
	}
	fmt.Fprintf(stdout, "created key %s for %s (%s, admin %v)\n", k.ID, k.Name, scope, k.Admin)
	fmt.Fprintf(stdout, "key (shown once, store it now):\n%s\n", secret)
	return nil
}

func list(ctx context.Context, st Store, stdout io.Writer) error {
	keys, err := st.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tADMIN\tCHANNELS\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		chs := "all"
		if len(k.Channels) > 0 {
			chs = strings.Join(k.Channels, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, k.Admin, chs,
			k.CreatedAt.UTC().Format(time.RFC3339), when(k.LastUsedAt), when(k.RevokedAt))
	}
	return tw.Flush()
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
