package awsproto

import (
	"testing"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

type fuzzShape struct {
	Namespace          *string           `json:"namespace"`
	ServiceAccount     *string           `json:"serviceAccount"`
	RoleARN            *string           `json:"roleArn"`
	DisableSessionTags *bool             `json:"disableSessionTags"`
	Tags               map[string]string `json:"tags"`
	MaxResults         int               `json:"maxResults"`
	Keys               []string          `json:"tagKeys"`
}

// FuzzDecodeJSON: no input may panic, and every failure is a client error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"namespace":"a","tags":{"k":"v"}}`, `{"a":1,"a":2}`, `[[[[`, `{"maxResults":1e999}`, `{"tagKeys":["a",null]}`, "\x00", `{"tags":{"":""}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v fuzzShape
		err := DecodeJSON(body, &v)
		if err == nil {
			return
		}
		if c := pi.ErrorCode(err); c != pi.CodeInvalidRequest && c != pi.CodeInvalidParameter {
			t.Fatalf("DecodeJSON(%q) = %v: a body must never cause a %s error", body, err, c)
		}
	})
}
