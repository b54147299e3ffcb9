package inbox

import (
	"context"
	"fmt"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/processor"
)

// UnknownName is the name of a contact Meta has no visible user for (9010 / 100).
func UnknownName(igsid string) string { return fmt.Sprintf("Unknown (IG: %s)", igsid) }

// profile returns the contact with its profile fetched when it has none yet, when the last
// attempt did not give one (230, token dead, retries exhausted), or when it is older than
// ProfileMaxAge. It never loses the message: only a transient failure on a contact without
// a profile returns an error (retry via the queue), and not on the last delivery.
func (s *Service) profile(ctx context.Context, ch domain.Channel, c domain.Contact) (domain.Contact, error) {
	now := s.now().UTC()
	switch c.ProfileStatus {
	case domain.ProfileOK, domain.ProfileUnknown:
		if now.Sub(c.ProfileFetchedAt) < s.cfg.ProfileMaxAge {
			return c, nil
		}
	}
	hasProfile := c.ProfileStatus == domain.ProfileOK || c.ProfileStatus == domain.ProfileUnknown
	minimal := func() domain.Contact {
		if !hasProfile && c.ProfileStatus != domain.ProfileConsent {
			c.ProfileStatus = domain.ProfileMinimal
		}
		return c
	}
	if ch.ReauthRequired || ch.AccessToken == "" {
		// The token is dead: no profile until the channel is re-connected; store anyway.
		return minimal(), nil
	}
	p, err := s.profiles.GetProfile(ctx, ch.AccessToken, c.IGSID)
	switch {
	case err == nil:
		c.Name, c.Username, c.ProfilePic = p.Name, p.Username, p.ProfilePic
		c.FollowerCount = p.FollowerCount
		c.IsUserFollowBusiness, c.IsBusinessFollowUser, c.IsVerifiedUser = p.IsUserFollowBusiness, p.IsBusinessFollowUser, p.IsVerifiedUser
		c.Unknown, c.ProfileStatus, c.ProfileFetchedAt = false, domain.ProfileOK, now
		return c, nil
	case graph.IsTokenDead(err):
		s.log.WarnContext(ctx, "access token dead while reading a profile: channel flagged for re-authorization",
			"account_id", ch.ID, "error", err.Error())
		if ferr := s.channels.FlagReauth(ctx, ch.ID, "profile lookup: "+err.Error(), now); ferr != nil {
			if !s.lastAttempt(ctx) {
				return c, fmt.Errorf("flag channel %s for re-authorization: %w", ch.ID, ferr)
			}
			s.log.ErrorContext(ctx, "could not flag channel for re-authorization", "account_id", ch.ID, "error", ferr.Error())
		} else {
			s.emitReauthMetric(ch.ID)
		}
		return minimal(), nil
	case graph.IsUnknownUser(err):
		if c.ProfileStatus != domain.ProfileOK {
			c.Name, c.Username, c.ProfilePic = UnknownName(c.IGSID), "", ""
			c.Unknown, c.ProfileStatus = true, domain.ProfileUnknown
		}
		c.ProfileFetchedAt = now
		return c, nil
	case graph.IsConsentRequired(err):
		if !hasProfile {
			c.ProfileStatus = domain.ProfileConsent
		}
		return c, nil
	case graph.IsTransient(err):
		if hasProfile {
			s.log.WarnContext(ctx, "profile refresh failed; keeping the stored profile", "account_id", ch.ID, "error", err.Error())
			return c, nil
		}
		if s.lastAttempt(ctx) {
			s.log.WarnContext(ctx, "profile lookup failed on the last delivery; storing with a minimal contact",
				"account_id", ch.ID, "error", err.Error())
			return minimal(), nil
		}
		return c, fmt.Errorf("get profile: %w", err)
	default:
		s.log.WarnContext(ctx, "profile lookup failed; storing with a minimal contact", "account_id", ch.ID, "error", err.Error())
		return minimal(), nil
	}
}

func (s *Service) lastAttempt(ctx context.Context) bool {
	return processor.ReceiveCount(ctx) >= s.cfg.MaxReceiveCount
}
