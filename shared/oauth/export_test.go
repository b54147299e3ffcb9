package oauth

import "time"

// SetNow replaces the service's clock (tests only).
func SetNow(s *Service, now func() time.Time) { s.now = now }
