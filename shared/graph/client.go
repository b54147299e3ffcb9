// Package graph is the client of Meta's Instagram APIs: the Graph API (profiles, the connected
// account, webhook subscriptions, the Send API) and the OAuth token endpoints. Its errors are
// typed (dead token, rate limit, transient) so that callers decide, and never carry a token.
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Version is the Graph API version every versioned call uses (one place).
const Version = "v23.0"

// Real Meta hosts, used when Config.BaseURL is empty.
const (
	DefaultBaseURL      = "https://graph.instagram.com"
	DefaultOAuthBaseURL = "https://api.instagram.com"
	DefaultAuthorizeURL = "https://www.instagram.com/oauth/authorize"
)

// DefaultTimeout bounds one Graph call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Scopes requested by Instagram Business Login.
var Scopes = []string{"instagram_business_basic", "instagram_business_manage_messages"}

// SubscribedFields are the webhook fields an account is subscribed to after every connect.
const SubscribedFields = "messages,message_reactions,messaging_seen,messaging_postbacks,messaging_referral"

// ProfileFields are the fields read for a contact's profile.
const ProfileFields = "name,username,profile_pic,follower_count,is_user_follow_business,is_business_follow_user,is_verified_user"

// MeFields are the fields read for the connected account.
const MeFields = "user_id,username,name,account_type,profile_picture_url"

// Config configures a Client.
type Config struct {
	// BaseURL replaces https://graph.instagram.com (GRAPH_API_URL). When set and OAuthBaseURL is
	// empty, the OAuth host (api.instagram.com) and the authorize page map to it too.
	BaseURL string
	// OAuthBaseURL replaces https://api.instagram.com (code exchange).
	OAuthBaseURL string
	// Version overrides the API version (default Version).
	Version string
	// Timeout bounds each call (default DefaultTimeout).
	Timeout time.Duration
	// HTTPClient is the client used for every call (default: a new client with Timeout).
	HTTPClient *http.Client
	// AppID and AppSecret are the Instagram app's credentials, needed for the code and
	// long-lived exchanges only.
	AppID     string
	AppSecret string
}

// Client calls graph.instagram.com and api.instagram.com. It is safe for concurrent use.
type Client struct {
	base, oauthBase, authorize, version string
	timeout                             time.Duration
	http                                *http.Client
	appID, appSecret                    string
}

// New returns a Client.
func New(cfg Config) *Client {
	c := &Client{
		base:      DefaultBaseURL,
		oauthBase: DefaultOAuthBaseURL,
		authorize: DefaultAuthorizeURL,
		version:   Version,
		timeout:   DefaultTimeout,
		http:      cfg.HTTPClient,
		appID:     cfg.AppID,
		appSecret: cfg.AppSecret,
	}
	if b := strings.TrimRight(cfg.BaseURL, "/"); b != "" {
		c.base, c.oauthBase, c.authorize = b, b, b+"/oauth/authorize"
	}
	if b := strings.TrimRight(cfg.OAuthBaseURL, "/"); b != "" {
		c.oauthBase = b
	}
	if cfg.Version != "" {
		c.version = cfg.Version
	}
	if cfg.Timeout > 0 {
		c.timeout = cfg.Timeout
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: c.timeout}
	}
	return c
}

// AuthorizeURL is the Instagram authorize page (without parameters).
func (c *Client) AuthorizeURL() string { return c.authorize }

// TokenURL is the code-exchange endpoint.
func (c *Client) TokenURL() string { return c.oauthBase + "/oauth/access_token" }

// ShortLivedToken is the result of the code exchange.
type ShortLivedToken struct {
	AccessToken string
	UserID      string // may be empty; /me's user_id is authoritative
}

// Token is a long-lived token (exchange or refresh).
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"` // seconds
}

// ExpiresAt is the token's expiry computed from now.
func (t Token) ExpiresAt(now time.Time) time.Time {
	return now.Add(time.Duration(t.ExpiresIn) * time.Second).UTC()
}

// Account is the connected professional account (/me).
type Account struct {
	ID                string `json:"id"`
	UserID            string `json:"user_id"`
	Username          string `json:"username"`
	Name              string `json:"name"`
	AccountType       string `json:"account_type"`
	ProfilePictureURL string `json:"profile_picture_url"`
}

// ExchangeCode trades an authorization code for a short-lived token at
// POST <oauth host>/oauth/access_token, using golang.org/x/oauth2 with the client's
// http.Client. Meta's OAuth error bodies become *Error.
func (c *Client) ExchangeCode(ctx context.Context, code, redirectURI string) (ShortLivedToken, error) {
	const op = "exchange code"
	conf := oauth2.Config{
		ClientID:     c.appID,
		ClientSecret: c.appSecret,
		RedirectURL:  redirectURI,
		Scopes:       Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.authorize,
			TokenURL:  c.TokenURL(),
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	tok, err := conf.Exchange(ctx, code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			return ShortLivedToken{}, decodeError(op, status, re.Body)
		}
		return ShortLivedToken{}, transportError(op, err)
	}
	return ShortLivedToken{AccessToken: tok.AccessToken, UserID: idString(tok.Extra("user_id"))}, nil
}

// idString renders an id that Meta may send as a string or a number. Numbers above 2^53 lose
// precision in float64, which is why callers must prefer /me's user_id.
func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return ""
}

// ExchangeLongLived trades a short-lived token for a 60-day token
// (GET /access_token?grant_type=ig_exchange_token).
func (c *Client) ExchangeLongLived(ctx context.Context, shortToken string) (Token, error) {
	q := url.Values{"grant_type": {"ig_exchange_token"}, "client_secret": {c.appSecret}, "access_token": {shortToken}}
	var t Token
	if err := c.do(ctx, "exchange long-lived token", http.MethodGet, c.base+"/access_token", q, &t); err != nil {
		return Token{}, err
	}
	if t.AccessToken == "" {
		return Token{}, &Error{Op: "exchange long-lived token", HTTPStatus: http.StatusOK, Message: "response has no access_token"}
	}
	return t, nil
}

// RefreshToken refreshes a long-lived token (GET /refresh_access_token?grant_type=ig_refresh_token).
func (c *Client) RefreshToken(ctx context.Context, token string) (Token, error) {
	q := url.Values{"grant_type": {"ig_refresh_token"}, "access_token": {token}}
	var t Token
	if err := c.do(ctx, "refresh token", http.MethodGet, c.base+"/refresh_access_token", q, &t); err != nil {
		return Token{}, err
	}
	if t.AccessToken == "" {
		return Token{}, &Error{Op: "refresh token", HTTPStatus: http.StatusOK, Message: "response has no access_token"}
	}
	return t, nil
}

// Me reads the connected account (GET /<ver>/me).
func (c *Client) Me(ctx context.Context, token string) (Account, error) {
	q := url.Values{"fields": {MeFields}, "access_token": {token}}
	var raw struct {
		Account
		UserID json.RawMessage `json:"user_id"`
	}
	if err := c.do(ctx, "get me", http.MethodGet, c.versioned("me"), q, &raw); err != nil {
		return Account{}, err
	}
	a := raw.Account
	a.UserID = strings.Trim(string(raw.UserID), `"`)
	if a.UserID == "" {
		return Account{}, &Error{Op: "get me", HTTPStatus: http.StatusOK, Message: "response has no user_id"}
	}
	return a, nil
}

// Subscribe subscribes the account to the webhook fields iginbox needs
// (POST /<ver>/me/subscribed_apps).
func (c *Client) Subscribe(ctx context.Context, token string) error {
	q := url.Values{"subscribed_fields": {SubscribedFields}, "access_token": {token}}
	var out struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, "subscribe", http.MethodPost, c.versioned("me/subscribed_apps"), q, &out); err != nil {
		return err
	}
	if !out.Success {
		return &Error{Op: "subscribe", HTTPStatus: http.StatusOK, Message: "subscription was not confirmed (success=false)"}
	}
	return nil
}

// Unsubscribe removes the app's webhook subscription of the account
// (DELETE /<ver>/me/subscribed_apps).
func (c *Client) Unsubscribe(ctx context.Context, token string) error {
	q := url.Values{"access_token": {token}}
	var out struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, "unsubscribe", http.MethodDelete, c.versioned("me/subscribed_apps"), q, &out); err != nil {
		return err
	}
	if !out.Success {
		return &Error{Op: "unsubscribe", HTTPStatus: http.StatusOK, Message: "unsubscription was not confirmed (success=false)"}
	}
	return nil
}

// GetProfile reads a contact's profile by IGSID (GET /<ver>/<IGSID>).
func (c *Client) GetProfile(ctx context.Context, accessToken, igsid string) (Profile, error) {
	if igsid == "" || strings.ContainsAny(igsid, "/?#") {
		return Profile{}, &Error{Op: "get profile", Code: 100, Message: "invalid IGSID"}
	}
	q := url.Values{"fields": {ProfileFields}, "access_token": {accessToken}}
	var p Profile
	if err := c.do(ctx, "get profile", http.MethodGet, c.versioned(url.PathEscape(igsid)), q, &p); err != nil {
		return Profile{}, err
	}
	return p, nil
}

func (c *Client) versioned(path string) string { return c.base + "/" + c.version + "/" + path }

// maxBody bounds response bodies read from Meta.
const maxBody = 1 << 20

// do performs a call. Parameters travel in the query string for GET (Meta's documented form,
// access_token included) and in a form body for POST. Transport errors (*url.Error) print the
// URL, so every error leaving this client has its query string stripped (redactURLError):
// that, not the parameter placement, is what keeps tokens out of error strings and logs.
func (c *Client) do(ctx context.Context, op, method, endpoint string, params url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	target := endpoint
	if method == http.MethodGet || method == http.MethodDelete {
		target += "?" + params.Encode()
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("graph %s: build request: %w", op, redactURLError(err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return transportError(op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(op, resp.StatusCode, data)
	}
	// Meta sometimes answers errors inside a 200 body.
	var probe struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &probe) == nil && len(probe.Error) > 0 && string(probe.Error) != "null" {
		return decodeError(op, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &Error{Op: op, HTTPStatus: resp.StatusCode, Message: "response is not valid JSON"}
		}
	}
	return nil
}

// decodeError turns an error body into *Error. It understands Graph bodies
// {"error":{"message","type","code","error_subcode","fbtrace_id"}} and Instagram OAuth bodies
// {"error_type","code","error_message"}.
func decodeError(op string, status int, body []byte) error {
	e := &Error{Op: op, HTTPStatus: status}
	var graphBody struct {
		Error *Error `json:"error"`
	}
	var oauthBody struct {
		ErrorType    string `json:"error_type"`
		Code         int    `json:"code"`
		ErrorMessage string `json:"error_message"`
	}
	switch {
	case json.Unmarshal(body, &graphBody) == nil && graphBody.Error != nil:
		g := graphBody.Error
		e.Code, e.Subcode, e.Type, e.Message, e.FBTraceID = g.Code, g.Subcode, g.Type, g.Message, g.FBTraceID
	case json.Unmarshal(body, &oauthBody) == nil && (oauthBody.ErrorType != "" || oauthBody.ErrorMessage != ""):
		e.Code, e.Type, e.Message = oauthBody.Code, oauthBody.ErrorType, oauthBody.ErrorMessage
	default:
		e.Message = "unexpected response: " + http.StatusText(status)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// transportError wraps a failure to get an answer at all. url.Error's text includes the
// request URL (and so its query string, where tokens travel): only the cause is kept.
func transportError(op string, err error) error {
	err = redactURLError(err)
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Op: op, Timeout: true, Message: "timeout"}
	}
	return fmt.Errorf("graph %s: %w", op, err)
}

// redactURLError removes the URL from *url.Error values anywhere in err's chain by replacing
// the outermost one with its cause.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactedURL(ue.URL), ue.Err)
	}
	return err
}

// redactedURL keeps scheme, host and path only.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<url>"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// Send API messaging types and tags.
const (
	MessagingTypeResponse = "RESPONSE"
	MessagingTypeTag      = "MESSAGE_TAG"
	TagHumanAgent         = "HUMAN_AGENT"
)

// SendRequest is one outgoing Instagram message: Text, or one attachment (AttachmentType +
// AttachmentURL). MessagingType/Tag are set only for a HUMAN_AGENT reply outside 24 h.
type SendRequest struct {
	RecipientIGSID string
	Text           string
	AttachmentType string // image | video | audio | file
	AttachmentURL  string
	MessagingType  string // empty: none sent (Meta's default RESPONSE)
	Tag            string
}

// SendResult is Meta's answer to a send.
type SendResult struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

type sendBody struct {
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	Message       sendMessage `json:"message"`
	MessagingType string      `json:"messaging_type,omitempty"`
	Tag           string      `json:"tag,omitempty"`
}

type sendMessage struct {
	Text       string          `json:"text,omitempty"`
	Attachment *sendAttachment `json:"attachment,omitempty"`
}

type sendAttachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL string `json:"url"`
	} `json:"payload"`
}

// SendMessage sends one message (POST /<ver>/me/messages, JSON body, token in the
// Authorization header) and returns its mid. A timeout is an *Error with Timeout set: the
// outcome is unknown (Meta may have accepted the message).
func (c *Client) SendMessage(ctx context.Context, accessToken string, req SendRequest) (SendResult, error) {
	const op = "send message"
	var b sendBody
	b.Recipient.ID = req.RecipientIGSID
	if req.AttachmentType != "" {
		a := &sendAttachment{Type: req.AttachmentType}
		a.Payload.URL = req.AttachmentURL
		b.Message.Attachment = a
	} else {
		b.Message.Text = req.Text
	}
	b.MessagingType, b.Tag = req.MessagingType, req.Tag
	body, err := json.Marshal(b)
	if err != nil {
		return SendResult{}, fmt.Errorf("graph %s: encode: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.versioned("me/messages"), strings.NewReader(string(body)))
	if err != nil {
		return SendResult{}, fmt.Errorf("graph %s: build request: %w", op, redactURLError(err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.http.Do(hreq)
	if err != nil {
		return SendResult{}, transportError(op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return SendResult{}, transportError(op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return SendResult{}, decodeError(op, resp.StatusCode, data)
	}
	var out struct {
		SendResult
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return SendResult{}, &Error{Op: op, HTTPStatus: resp.StatusCode, Message: "response is not valid JSON", Unexpected: true}
	}
	if len(out.Error) > 0 && string(out.Error) != "null" {
		return SendResult{}, decodeError(op, resp.StatusCode, data)
	}
	if out.MessageID == "" {
		return SendResult{}, &Error{Op: op, HTTPStatus: resp.StatusCode, Message: "response has no message_id", Unexpected: true}
	}
	return out.SendResult, nil
}
