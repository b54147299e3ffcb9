package api

// Authentication: the bootstrap admin key (API_TOKEN), named agent keys and browser sessions,
// and the routes that manage them (/api/keys, admin only; /api/session).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/identity"
)

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "iginbox_session"

// keyTouchEvery bounds how often a key's last_used_at is written.
const keyTouchEvery = time.Minute

// IdentityStore is what named keys and sessions need (implemented by *store.Store).
type IdentityStore interface {
	CreateAPIKey(ctx context.Context, k domain.APIKey) error
	GetAPIKey(ctx context.Context, id string) (domain.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]domain.APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, now time.Time) (domain.APIKey, error)
	TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) error
	CreateSession(ctx context.Context, s domain.Session) error
	GetSession(ctx context.Context, id string) (domain.Session, error)
	DeleteSession(ctx context.Context, id string) error
}

// IdentityConfig configures named keys and sessions.
type IdentityConfig struct {
	// SessionSecret derives the key that signs session cookies.
	SessionSecret string
	// SessionTTL is a session's lifetime (default and maximum identity.MaxSessionTTL).
	SessionTTL time.Duration
	// Now replaces time.Now (tests).
	Now func() time.Time
}

type identities struct {
	st     IdentityStore
	signer identity.SessionSigner
	ttl    time.Duration
	now    func() time.Time
}

// WithIdentities enables named keys (/api/keys, admin only) and browser sessions
// (/api/session). Without it only the bootstrap key (API_TOKEN) authenticates.
func WithIdentities(st IdentityStore, cfg IdentityConfig) Option {
	if cfg.SessionTTL <= 0 || cfg.SessionTTL > identity.MaxSessionTTL {
		cfg.SessionTTL = identity.MaxSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return func(s *Server) {
		s.ids = &identities{st: st, signer: identity.NewSessionSigner(cfg.SessionSecret), ttl: cfg.SessionTTL, now: cfg.Now}
		h := identityRoutes{srv: s, ids: s.ids}
		s.Handle(http.MethodPost, "/api/keys", h.createKey)
		s.Handle(http.MethodGet, "/api/keys", h.listKeys)
		s.Handle(http.MethodDelete, "/api/keys/{id}", h.revokeKey)
		s.HandlePublic(http.MethodPost, "/api/session", h.signIn)
		s.Handle(http.MethodGet, "/api/session", h.whoAmI)
		s.HandlePublic(http.MethodDelete, "/api/session", h.signOut)
	}
}

func unauthorized() error {
	return Errorf(http.StatusUnauthorized, "unauthorized", "missing or invalid key or session")
}

func bearer(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(header[len(prefix):]), true
}

// authenticate resolves the bearer key, else the session cookie, to a principal. Every
// request reads the key (strongly consistent), so a revocation counts at once.
func (s *Server) authenticate(ctx context.Context, authorization string, cookies map[string]string) (identity.Principal, error) {
	if token, ok := bearer(authorization); ok {
		return s.principalForKey(ctx, token)
	}
	if c := cookies[SessionCookie]; c != "" && s.ids != nil {
		return s.principalForSession(ctx, c)
	}
	return identity.Principal{}, unauthorized()
}

func bootstrapPrincipal() identity.Principal {
	return identity.Principal{KeyID: identity.BootstrapKeyID, Name: identity.BootstrapName, Admin: true}
}

func keyPrincipal(k domain.APIKey) identity.Principal {
	return identity.Principal{KeyID: k.ID, Name: k.Name, Admin: k.Admin, Channels: k.Channels}
}

// principalForKey authenticates a key. The comparisons are of hashes, in constant time.
func (s *Server) principalForKey(ctx context.Context, token string) (identity.Principal, error) {
	hash := identity.HashKey(token)
	if identity.SameHash(hash, s.bootstrapHash) {
		return bootstrapPrincipal(), nil
	}
	id, ok := identity.ParseKey(token)
	if !ok || s.ids == nil {
		return identity.Principal{}, unauthorized()
	}
	k, err := s.ids.st.GetAPIKey(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return identity.Principal{}, unauthorized()
	}
	if err != nil {
		return identity.Principal{}, err
	}
	if !identity.SameHash(hash, k.Hash) || k.Revoked() {
		return identity.Principal{}, unauthorized()
	}
	if err := s.ids.st.TouchAPIKey(ctx, k.ID, s.ids.now(), keyTouchEvery); err != nil {
		s.log.WarnContext(ctx, "could not record key use", "key_id", k.ID, "error", err.Error())
	}
	return keyPrincipal(k), nil
}

// principalForSession authenticates a session cookie: signature and expiry, the session item
// (absent after sign-out), then the key it is bound to (revoked or changed: refused).
func (s *Server) principalForSession(ctx context.Context, cookie string) (identity.Principal, error) {
	now := s.ids.now()
	id, err := s.ids.signer.Verify(cookie, now)
	if err != nil {
		return identity.Principal{}, unauthorized()
	}
	sess, err := s.ids.st.GetSession(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return identity.Principal{}, unauthorized()
	}
	if err != nil {
		return identity.Principal{}, err
	}
	if !now.Before(sess.ExpiresAt) {
		return identity.Principal{}, unauthorized()
	}
	var p identity.Principal
	if sess.KeyID == identity.BootstrapKeyID {
		if !identity.SameHash(sess.KeyHash, s.bootstrapHash) {
			return identity.Principal{}, unauthorized()
		}
		p = bootstrapPrincipal()
	} else {
		k, err := s.ids.st.GetAPIKey(ctx, sess.KeyID)
		if errors.Is(err, domain.ErrNotFound) {
			return identity.Principal{}, unauthorized()
		}
		if err != nil {
			return identity.Principal{}, err
		}
		if k.Revoked() || !identity.SameHash(sess.KeyHash, k.Hash) {
			return identity.Principal{}, unauthorized()
		}
		if err := s.ids.st.TouchAPIKey(ctx, k.ID, now, keyTouchEvery); err != nil {
			s.log.WarnContext(ctx, "could not record key use", "key_id", k.ID, "error", err.Error())
		}
		p = keyPrincipal(k)
	}
	p.SessionID = sess.ID
	return p, nil
}

// requestScheme is the scheme the client used: X-Forwarded-Proto (API Gateway sets it), else
// http on loopback and https elsewhere.
func requestScheme(headers map[string]string, domain string) string {
	if p := strings.ToLower(strings.TrimSpace(strings.Split(headers["x-forwarded-proto"], ",")[0])); p == "http" || p == "https" {
		return p
	}
	host := domain
	if h, _, err := net.SplitHostPort(domain); err == nil {
		host = h
	}
	if host == "127.0.0.1" || host == "localhost" || host == "::1" {
		return "http"
	}
	return "https"
}

// sameOrigin reports whether the request's Origin is this API's own origin.
func sameOrigin(headers map[string]string, domain string) bool {
	origin := headers["origin"]
	host := headers["host"]
	if host == "" {
		host = domain
	}
	return origin != "" && host != "" && origin == requestScheme(headers, domain)+"://"+host
}

func parseCookies(list []string, header string) map[string]string {
	out := map[string]string{}
	add := func(c string) {
		name, value, ok := strings.Cut(strings.TrimSpace(c), "=")
		if ok && name != "" {
			if _, seen := out[name]; !seen {
				out[name] = value
			}
		}
	}
	for _, c := range list {
		add(c)
	}
	for _, c := range strings.Split(header, ";") {
		add(c)
	}
	return out
}

// Cookie renders a Set-Cookie value: HttpOnly always, Secure on https.
func Cookie(name, value, path, sameSite string, maxAge int, secure bool) string {
	c := fmt.Sprintf("%s=%s; Path=%s; Max-Age=%d; HttpOnly; SameSite=%s", name, value, path, maxAge, sameSite)
	if secure {
		c += "; Secure"
	}
	return c
}

type identityRoutes struct {
	srv *Server
	ids *identities
}

// KeyJSON is a key as the API shows it: never the key or its hash, only the visible prefix.
type KeyJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Prefix     string   `json:"prefix"`
	Admin      bool     `json:"admin"`
	Channels   []string `json:"channels"`
	CreatedAt  string   `json:"created_at"`
	LastUsedAt *string  `json:"last_used_at"`
	RevokedAt  *string  `json:"revoked_at"`
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// NewKeyJSON renders a key.
func NewKeyJSON(k domain.APIKey) KeyJSON {
	ch := k.Channels
	if ch == nil {
		ch = []string{}
	}
	return KeyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Admin: k.Admin, Channels: ch,
		CreatedAt: timeRFC3339(k.CreatedAt), LastUsedAt: optTime(k.LastUsedAt), RevokedAt: optTime(k.RevokedAt)}
}

// KeyRequest creates a key.
type KeyRequest struct {
	Name     string   `json:"name"`
	Channels []string `json:"channels"`
	Admin    bool     `json:"admin"`
}

// MaxKeyName bounds a key's name.
const MaxKeyName = 64

// NewAPIKey validates a request and returns the key to store with the key itself, which is
// shown once. The CLI and POST /api/keys share it.
func NewAPIKey(in KeyRequest, now time.Time) (domain.APIKey, string, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > MaxKeyName || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return domain.APIKey{}, "", Errorf(http.StatusBadRequest, "invalid_name", "name is required: 1 to %d printable characters", MaxKeyName)
	}
	var channels []string
	for _, c := range in.Channels {
		c = strings.TrimSpace(c)
		if c == "" || strings.Trim(c, "0123456789") != "" || len(c) > 32 {
			return domain.APIKey{}, "", Errorf(http.StatusBadRequest, "invalid_channels", "channels are Instagram account ids (digits)")
		}
		channels = append(channels, c)
	}
	if in.Admin && len(channels) > 0 {
		return domain.APIKey{}, "", Errorf(http.StatusBadRequest, "invalid_channels", "an admin key cannot be limited to channels")
	}
	secret, id, prefix, hash, err := identity.NewKey()
	if err != nil {
		return domain.APIKey{}, "", fmt.Errorf("new key: %w", err)
	}
	return domain.APIKey{ID: id, Name: name, Prefix: prefix, Hash: hash, Admin: in.Admin, Channels: channels, CreatedAt: now.UTC()}, secret, nil
}

func requireAdmin(r *Request) error {
	if !r.Principal.Admin {
		return Errorf(http.StatusForbidden, "forbidden", "this route needs an admin key")
	}
	return nil
}

func (h identityRoutes) createKey(ctx context.Context, r *Request) (Response, error) {
	if err := requireAdmin(r); err != nil {
		return Response{}, err
	}
	var in KeyRequest
	if err := r.DecodeJSON(&in); err != nil {
		return Response{}, err
	}
	k, secret, err := NewAPIKey(in, h.ids.now())
	if err != nil {
		return Response{}, err
	}
	if err := h.ids.st.CreateAPIKey(ctx, k); err != nil {
		return Response{}, err
	}
	h.srv.log.InfoContext(ctx, "api key created", "key_id", k.ID, "prefix", k.Prefix, "by", r.Principal.KeyID)
	return Response{Status: http.StatusCreated, Body: struct {
		KeyJSON
		Key string `json:"key"`
	}{NewKeyJSON(k), secret}}, nil
}

func (h identityRoutes) listKeys(ctx context.Context, r *Request) (Response, error) {
	if err := requireAdmin(r); err != nil {
		return Response{}, err
	}
	keys, err := h.ids.st.ListAPIKeys(ctx)
	if err != nil {
		return Response{}, err
	}
	out := make([]KeyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, NewKeyJSON(k))
	}
	return Response{Status: http.StatusOK, Body: map[string]any{"keys": out}}, nil
}

func (h identityRoutes) revokeKey(ctx context.Context, r *Request) (Response, error) {
	if err := requireAdmin(r); err != nil {
		return Response{}, err
	}
	id := r.Params["id"]
	if !identity.ValidKeyID(id) {
		return Response{}, Errorf(http.StatusNotFound, "not_found", "no key %q", id)
	}
	k, err := h.ids.st.RevokeAPIKey(ctx, id, h.ids.now())
	if errors.Is(err, domain.ErrNotFound) {
		return Response{}, Errorf(http.StatusNotFound, "not_found", "no key %q", id)
	}
	if err != nil {
		return Response{}, err
	}
	h.srv.log.InfoContext(ctx, "api key revoked", "key_id", k.ID, "by", r.Principal.KeyID)
	return Response{Status: http.StatusOK, Body: NewKeyJSON(k)}, nil
}

// SessionJSON describes the signed-in principal.
type SessionJSON struct {
	KeyID     string   `json:"key_id"`
	Name      string   `json:"name"`
	Admin     bool     `json:"admin"`
	Channels  []string `json:"channels"`
	ExpiresAt string   `json:"expires_at,omitempty"`
}

func newSessionJSON(p identity.Principal, expires time.Time) SessionJSON {
	ch := p.Channels
	if ch == nil {
		ch = []string{}
	}
	out := SessionJSON{KeyID: p.KeyID, Name: p.Name, Admin: p.Admin, Channels: ch}
	if !expires.IsZero() {
		out.ExpiresAt = timeRFC3339(expires)
	}
	return out
}

// signIn exchanges a key ({"key"} or the bearer header) for a session cookie.
func (h identityRoutes) signIn(ctx context.Context, r *Request) (Response, error) {
	if r.Header("origin") != "" && !sameOrigin(r.Headers, r.DomainName) {
		return Response{}, Errorf(http.StatusForbidden, "origin_mismatch", "sign in from this site")
	}
	token, _ := bearer(r.Header("authorization"))
	if token == "" {
		var in struct {
			Key string `json:"key"`
		}
		if err := r.DecodeJSON(&in); err != nil {
			return Response{}, err
		}
		token = strings.TrimSpace(in.Key)
	}
	p, err := h.srv.principalForKey(ctx, token)
	if err != nil {
		return Response{}, err
	}
	id, err := identity.NewSessionID()
	if err != nil {
		return Response{}, fmt.Errorf("new session: %w", err)
	}
	now := h.ids.now()
	sess := domain.Session{ID: id, KeyID: p.KeyID, KeyHash: identity.HashKey(token), CreatedAt: now.UTC(), ExpiresAt: now.Add(h.ids.ttl).UTC()}
	if err := h.ids.st.CreateSession(ctx, sess); err != nil {
		return Response{}, err
	}
	h.srv.log.InfoContext(ctx, "session started", "key_id", p.KeyID)
	cookie := Cookie(SessionCookie, h.ids.signer.Sign(id, sess.ExpiresAt), "/api", "Strict", int(h.ids.ttl/time.Second), r.HTTPS)
	return Response{Status: http.StatusCreated, Body: newSessionJSON(p, sess.ExpiresAt), Cookies: []string{cookie}}, nil
}

func (h identityRoutes) whoAmI(_ context.Context, r *Request) (Response, error) {
	return Response{Status: http.StatusOK, Body: newSessionJSON(r.Principal, time.Time{})}, nil
}

// signOut deletes the session and clears the cookie; it succeeds without a valid session too.
func (h identityRoutes) signOut(ctx context.Context, r *Request) (Response, error) {
	if r.Header("origin") != "" && !sameOrigin(r.Headers, r.DomainName) {
		return Response{}, Errorf(http.StatusForbidden, "origin_mismatch", "sign out from this site")
	}
	if id, err := h.ids.signer.Verify(r.Cookies[SessionCookie], h.ids.now()); err == nil {
		if err := h.ids.st.DeleteSession(ctx, id); err != nil {
			return Response{}, err
		}
	}
	return Response{Status: http.StatusNoContent, Cookies: []string{Cookie(SessionCookie, "", "/api", "Strict", 0, r.HTTPS)}}, nil
}

func timeRFC3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
