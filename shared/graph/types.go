package graph

// Profile is an Instagram user's profile as the Graph API returns it for an IGSID
// (GET /<ver>/<IGSID>?fields=name,username,profile_pic,follower_count,is_user_follow_business,
// is_business_follow_user,is_verified_user).
type Profile struct {
	Name                 string `json:"name"`
	Username             string `json:"username"`
	ProfilePic           string `json:"profile_pic"`
	FollowerCount        int64  `json:"follower_count"`
	IsUserFollowBusiness bool   `json:"is_user_follow_business"`
	IsBusinessFollowUser bool   `json:"is_business_follow_user"`
	IsVerifiedUser       bool   `json:"is_verified_user"`
}
