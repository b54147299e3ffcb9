package replay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/shared/archive"
)

// Archive defaults.
const (
	TableEnv = "TABLE_NAME"
	// DefaultTable is the table of the local stack (make dev: Stage local, logical id Table).
	DefaultTable = "iginbox-local-Table"
)

// ArchiveOptions selects archived bodies (--from-archive).
type ArchiveOptions struct {
	Since, Until time.Time
	Account      string
	Table        string
}

// parseTime reads --since / --until: an RFC 3339 time, or a Go duration meaning that long ago.
func parseTime(flagName, v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q is neither an RFC 3339 time (2026-11-22T10:00:00Z) nor a duration ago (90m, 6h)", flagName, v)
}

// archiveOptions validates the --from-archive flags.
func (c Config) archiveOptions(now time.Time) (ArchiveOptions, error) {
	var errs []error
	o := ArchiveOptions{Account: c.Account, Table: c.Table}
	if len(c.Inputs) > 0 {
		errs = append(errs, fmt.Errorf("--from-archive reads the archive: drop the inputs %s", strings.Join(c.Inputs, ", ")))
	}
	if c.Since == "" {
		errs = append(errs, errors.New("--from-archive needs --since (RFC 3339 time or a duration ago, e.g. 6h)"))
	} else if t, err := parseTime("since", c.Since, now); err != nil {
		errs = append(errs, err)
	} else {
		o.Since = t
	}
	o.Until = now
	if c.Until != "" {
		t, err := parseTime("until", c.Until, now)
		if err != nil {
			errs = append(errs, err)
		}
		o.Until = t
	}
	if !o.Since.IsZero() && o.Until.Before(o.Since) {
		errs = append(errs, fmt.Errorf("--until %s is before --since %s", o.Until.Format(time.RFC3339), o.Since.Format(time.RFC3339)))
	}
	if h := o.Until.Sub(o.Since.Truncate(time.Hour)); h > archive.MaxHours*time.Hour {
		errs = append(errs, fmt.Errorf("--since..--until spans more than %d days", archive.MaxHours/24))
	}
	return o, errors.Join(errs...)
}

// loadArchive reads the selected archived bodies, oldest first. Bodies whose signature did not
// verify when received are never re-signed (they are skipped and counted).
func loadArchive(ctx context.Context, db archive.QueryAPI, o ArchiveOptions) ([]Body, int, error) {
	entries, err := archive.NewReader(db, o.Table).Read(ctx, archive.Query{Since: o.Since, Until: o.Until, AccountID: o.Account})
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrInput, err)
	}
	var bodies []Body
	skipped := 0
	for _, e := range entries {
		if !e.SignatureValid {
			skipped++
			continue
		}
		b, err := newBody(fmt.Sprintf("archive:%s:%.12s", e.ReceivedAt.UTC().Format(time.RFC3339Nano), e.ID), e.Body)
		if err != nil {
			return nil, 0, err
		}
		bodies = append(bodies, b)
	}
	if len(bodies) == 0 {
		who := ""
		if o.Account != "" {
			who = " for account " + o.Account
		}
		return nil, skipped, fmt.Errorf("%w: no archived bodies%s in table %s between %s and %s", ErrInput, who, o.Table,
			o.Since.UTC().Format(time.RFC3339), o.Until.UTC().Format(time.RFC3339))
	}
	return bodies, skipped, nil
}

// DefaultArchiveClient returns a DynamoDB client from the standard AWS configuration (it
// honours AWS_ENDPOINT_URL_DYNAMODB, AWS_PROFILE, AWS_REGION...). Against a loopback endpoint
// without credentials (make dev's DynamoDB Local) it uses the emulator's test credentials.
func DefaultArchiveClient(ctx context.Context, getenv func(string) string) (archive.QueryAPI, error) {
	var opts []func(*config.LoadOptions) error
	if loopback(getenv("AWS_ENDPOINT_URL_DYNAMODB")) && getenv("AWS_ACCESS_KEY_ID") == "" && getenv("AWS_PROFILE") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
		if getenv("AWS_REGION") == "" && getenv("AWS_DEFAULT_REGION") == "" {
			opts = append(opts, config.WithRegion("us-east-1"))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return dynamodb.NewFromConfig(cfg), nil
}

func loopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || endpoint == "" {
		return false
	}
	switch u.Hostname() {
	case "127.0.0.1", "localhost", "::1":
		return true
	}
	return false
}
