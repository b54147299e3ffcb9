package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
