package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestLanguageOf(t *testing.T) {
	tests := []struct{ header, want string }{
		// Every language of docs/mos.md, as MOS spells it, in lower case, upper case and with "_".
		{"zh-CN", "zh-CN"}, {"zh-HK", "zh-HK"}, {"zh-TW", "zh-TW"}, {"en-US", "en-US"},
		{"km-KH", "km-KH"}, {"vi-VN", "vi-VN"}, {"th-TH", "th-TH"}, {"ms-MY", "ms-MY"},
		{"ja-JP", "ja-JP"}, {"ko-KR", "ko-KR"}, {"id-ID", "id-ID"}, {"lo-LA", "lo-LA"},
		{"hi-IN", "hi-IN"},
		{"zh-hk", "zh-HK"}, {"ZH-TW", "zh-TW"}, {"EN-us", "en-US"}, {"km-kh", "km-KH"},
		{"en_US", "en-US"}, {"zh_TW", "zh-TW"}, {"vi_vn", "vi-VN"}, {"LO_LA", "lo-LA"},
		// A bare prefix, any case: the first language with it.
		{"zh", "zh-CN"}, {"ZH", "zh-CN"}, {"Zh", "zh-CN"}, {"KM", "km-KH"}, {"km", "km-KH"},
		{"en", "en-US"}, {"vi", "vi-VN"}, {"th", "th-TH"}, {"ms", "ms-MY"}, {"ja", "ja-JP"},
		{"ko", "ko-KR"}, {"id", "id-ID"}, {"lo", "lo-LA"}, {"hi", "hi-IN"},
		{" ja-JP ", "ja-JP"},
		// Missing or unknown: en-US.
		{"", "en-US"}, {"   ", "en-US"}, {"fr-FR", "en-US"}, {"fr", "en-US"}, {"zh-SG", "en-US"},
		{"z", "en-US"}, {"zh-", "en-US"}, {"-CN", "en-US"}, {"zh-CN-x", "en-US"},
		{"en-US,en;q=0.9", "en-US"}, {"zh-CN,zh;q=0.9", "en-US"}, {"_", "en-US"}, {"CN", "en-US"},
	}
	for _, tt := range tests {
		if got := languageOf(tt.header); got != tt.want {
			t.Errorf("languageOf(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
	for _, tag := range languages {
		if got := languageOf(strings.ToLower(strings.ReplaceAll(tag, "-", "_"))); got != tag {
			t.Errorf("%s lower case with _: %q", tag, got)
		}
		if got := languageOf(strings.ToUpper(tag)); got != tag {
			t.Errorf("%s upper case: %q", tag, got)
		}
	}
}

// TestUserLanguageHeader checks the header reaches languageType through the real route.
func TestUserLanguageHeader(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), nil)
	token := "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, validClaims())
	for header, want := range map[string]string{"": "en-US", "zh": "zh-CN", "en_US": "en-US", "EN-us": "en-US", "KM": "km-KH", "xx-YY": "en-US"} {
		hdr := map[string]string{"Authorization": token}
		if header != "" {
			hdr["Lang"] = header
		}
		rec := do(t, s.Handler(), http.MethodGet, "/mp/user", "", hdr)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"languageType":"`+want+`"`) {
			t.Errorf("Lang %q: %d %s, want %s", header, rec.Code, rec.Body, want)
		}
	}
}
