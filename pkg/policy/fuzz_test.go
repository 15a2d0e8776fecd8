package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// FuzzToValue builds policy input from arbitrary evidence (every field of it comes from
// documents an attacker may write): whatever JSON decodes into an Input must encode to
// exactly the value encoding/json and OPA's parser give, or fail as encoding/json fails.
func FuzzToValue(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"evidence":[{"id":"sha256:aa","kind":"sbom","subjects":["sha256:aa"],"sbom":{"components":[{"name":"a\u0000\ud800"}]}}]}`))
	f.Add([]byte(`{"deployment":{"observed_at":"9999-12-31T23:59:59Z","labels":{"":"\u2028"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in Input
		if json.Unmarshal(data, &in) != nil {
			return
		}
		got, err := toValue(in)
		raw, jerr := json.Marshal(in)
		if (err == nil) != (jerr == nil) {
			t.Fatalf("toValue error %v, encoding/json error %v", err, jerr)
		}
		if err != nil {
			return
		}
		want, err := ast.ValueFromReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("OPA cannot parse encoding/json's output: %v", err)
		}
		if got.Compare(want) != 0 {
			t.Fatalf("toValue =\n%v\nwant (encoding/json) =\n%v", got, want)
		}
	})
}
