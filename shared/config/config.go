// Package config reads a function's environment into its Config: each accessor returns the
// variable's value (or its default) and records what is wrong with it, and Err reports every
// problem at once. Values of secrets never appear in a problem.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Env reads variables with getenv and collects their problems. It is not safe for concurrent
// use; a LoadConfig creates one, reads every variable and calls Err.
type Env struct {
	getenv   func(string) string
	problems []error
}

// NewEnv returns an Env reading with getenv (os.Getenv in main, a map lookup in tests).
func NewEnv(getenv func(string) string) *Env {
	return &Env{getenv: getenv}
}

// String returns the variable as set; empty when unset.
func (e *Env) String(name string) string {
	return e.getenv(name)
}

// Required returns the variable and records a problem when it is empty.
func (e *Env) Required(name string) string {
	v := e.getenv(name)
	if v == "" {
		e.Add(fmt.Errorf("%s is required", name))
	}
	return v
}

// Bool returns the variable parsed by strconv.ParseBool, or def when it is empty.
func (e *Env) Bool(name string, def bool) bool {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.invalid(name, v, "is not a boolean")
		return def
	}
	return b
}

// Duration returns the variable parsed by time.ParseDuration, or def when it is empty. It
// must be positive.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		reason := "is not a positive duration"
		if def > 0 {
			reason += " (e.g. " + shortDuration(def) + ")"
		}
		e.invalid(name, v, reason)
		return def
	}
	return d
}

// Int returns the variable parsed by strconv.Atoi, or def when it is empty. It must lie in
// min..max.
func (e *Env) Int(name string, def, minimum, maximum int) int {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minimum || n > maximum {
		e.invalid(name, v, fmt.Sprintf("must be %d..%d", minimum, maximum))
		return def
	}
	return n
}

// Add records a problem found outside the accessors (a domain parser, a rule between
// variables); nil is ignored. The caller keeps secrets out of err.
func (e *Env) Add(err error) {
	if err != nil {
		e.problems = append(e.problems, err)
	}
}

// Err returns nil when every variable read so far is valid, otherwise every problem joined
// and prefixed with prefix ("api config").
func (e *Env) Err(prefix string) error {
	if len(e.problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", prefix, errors.Join(e.problems...))
}

// invalid records that name holds the unusable value v, quoting v unless name is a secret.
func (e *Env) invalid(name, v, reason string) {
	if Secret(name) {
		e.Add(fmt.Errorf("%s %s", name, reason))
		return
	}
	e.Add(fmt.Errorf("%s %q %s", name, v, reason))
}

// Secret reports whether the variable name holds a secret, whose value must never be echoed:
// its name contains SECRET, TOKEN or PASSWORD (TOKEN_REFRESH_HORIZON, a duration, does not count).
func Secret(name string) bool {
	n := strings.ToUpper(name)
	if n == "TOKEN_REFRESH_HORIZON" {
		return false
	}
	return strings.Contains(n, "SECRET") || strings.Contains(n, "TOKEN") || strings.Contains(n, "PASSWORD")
}

// shortDuration formats d without trailing zero units: 168h, 1m, 10s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
