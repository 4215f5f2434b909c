package app

import (
	"testing"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/ui"
)

// TestPagesAndAPIAgreeOnTheSecret: the finance pages derive their session key from the JWT
// secret, and refuse to sign anyone in with a secret the API would refuse to sign tokens with;
// ui keeps its own constant so as not to import api, and this holds the two together.
func TestPagesAndAPIAgreeOnTheSecret(t *testing.T) {
	if ui.MinSecret != api.MinTokenSecret {
		t.Fatalf("ui.MinSecret %d, api.MinTokenSecret %d: the pages and the API disagree on the shortest secret",
			ui.MinSecret, api.MinTokenSecret)
	}
}
