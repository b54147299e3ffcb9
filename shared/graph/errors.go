package graph

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error answered by the Graph API or by Instagram's OAuth endpoints. It carries
// Meta's fields so callers can branch on them; it never carries a token or a secret.
type Error struct {
	// HTTPStatus is the HTTP status of the response (200 for errors inside a 200 body; 0 for
	// transport failures such as timeouts).
	HTTPStatus int    `json:"-"`
	Code       int    `json:"code"`
	Subcode    int    `json:"error_subcode,omitempty"`
	Type       string `json:"type,omitempty"`
	Message    string `json:"message"`
	FBTraceID  string `json:"fbtrace_id,omitempty"`
	// Op names the call that failed ("refresh token", "get profile"...), for context.
	Op string `json:"-"`
	// Timeout is true when the call failed because of a timeout (outcome unknown).
	Timeout bool `json:"-"`
	// Unexpected is true for a 2xx answer that does not say what happened (not JSON, or a
	// send answer without message_id): the call may well have succeeded.
	Unexpected bool `json:"-"`
}

func (e *Error) Error() string {
	switch {
	case e.Timeout:
		return fmt.Sprintf("graph %s: timeout", e.Op)
	case e.Subcode != 0:
		return fmt.Sprintf("graph %s: %s (code %d, subcode %d, http %d)", e.Op, e.Message, e.Code, e.Subcode, e.HTTPStatus)
	default:
		return fmt.Sprintf("graph %s: %s (code %d, http %d)", e.Op, e.Message, e.Code, e.HTTPStatus)
	}
}

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var ge *Error
	if errors.As(err, &ge) {
		return ge, true
	}
	return nil, false
}

// IsTokenDead reports whether err means the access token can no longer be used: code 190
// (invalid or expired token) or 200 with subcode 2534041 (the owner disabled message access).
// The channel must be flagged for re-authorization.
func IsTokenDead(err error) bool {
	ge, ok := AsError(err)
	if !ok {
		return false
	}
	return ge.Code == 190 || (ge.Code == 200 && ge.Subcode == 2534041)
}

// IsRateLimited reports whether err is one of Meta's throttling errors (4, 32, 613) or an
// HTTP 429 (with or without a Meta code): the call was refused, try again later.
func IsRateLimited(err error) bool {
	ge, ok := AsError(err)
	if !ok {
		return false
	}
	if ge.HTTPStatus == http.StatusTooManyRequests {
		return true
	}
	switch ge.Code {
	case 4, 32, 613:
		return true
	}
	return false
}

// IsTransient reports whether retrying later may succeed: codes 1 and 2, HTTP 5xx, timeouts
// and transport failures, and rate limits.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	ge, ok := AsError(err)
	if !ok {
		// Not an answer from Meta at all (connection refused, DNS, context deadline...).
		return true
	}
	if ge.Timeout || ge.HTTPStatus >= 500 || ge.HTTPStatus == 0 {
		return true
	}
	switch ge.Code {
	case 1, 2:
		return true
	}
	return IsRateLimited(err)
}

// IsOutcomeUnknown reports whether a call that changes something (a send) may have taken
// effect although err says it failed: no answer at all (timeout, connection lost), a server
// error (HTTP 5xx, codes 1 and 2: a front end can answer 5xx after Meta accepted the call), or
// a 2xx we cannot read. Rate limits and other answers from Meta are definite refusals.
func IsOutcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	ge, ok := AsError(err)
	if !ok {
		return true // not an answer from Meta at all
	}
	if IsRateLimited(err) {
		return false
	}
	return ge.Timeout || ge.Unexpected || ge.HTTPStatus == 0 || ge.HTTPStatus >= 500 || ge.Code == 1 || ge.Code == 2
}

// IsUnknownUser reports whether Meta has no (visible) Instagram user for the id: 9010
// ("No matching Instagram user"), 100 (object missing or not visible), or 100/2534014.
func IsUnknownUser(err error) bool {
	ge, ok := AsError(err)
	if !ok {
		return false
	}
	return ge.Code == 9010 || ge.Code == 100
}

// IsConsentRequired reports error 230: user consent is required to access the profile.
func IsConsentRequired(err error) bool {
	ge, ok := AsError(err)
	return ok && ge.Code == 230
}
