package api

import "strings"

// defaultLanguage answers for a missing or unknown Lang header (docs/mos.md "Login and languages"), where
// MOS's own code would give none.
const defaultLanguage = "en-US"

// languages are MOS's language tags, in MOS's order: a bare prefix maps to the first match.
var languages = []string{
	"zh-CN", "zh-HK", "zh-TW", "en-US", "km-KH", "vi-VN", "th-TH",
	"ms-MY", "ja-JP", "ko-KR", "id-ID", "lo-LA", "hi-IN",
}

// languageOf turns a Lang header into one of MOS's language tags: any case, "_" for "-" (as
// mos.getLanguage returns "en_US"), and a bare prefix ("zh", "KM") for the first tag that starts
// with it. Missing or unknown is defaultLanguage.
func languageOf(header string) string {
	v := strings.ReplaceAll(strings.TrimSpace(header), "_", "-")
	if v == "" {
		return defaultLanguage
	}
	bare := !strings.Contains(v, "-")
	for _, tag := range languages {
		if strings.EqualFold(tag, v) {
			return tag
		}
		if prefix, _, _ := strings.Cut(tag, "-"); bare && strings.EqualFold(prefix, v) {
			return tag
		}
	}
	return defaultLanguage
}
