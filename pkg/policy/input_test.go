package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// viaJSON is what toValue must return: x encoded by encoding/json and parsed by OPA.
func viaJSON(t *testing.T, x any) ast.Value {
	t.Helper()
	raw, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ast.ValueFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fill sets every field reachable from v to a value that is not its zero value, so that a
// field toValue does not know (one added to the evidence types later) shows up as a
// difference from encoding/json. Strings get invalid UTF-8 in them, to check that it is
// replaced as encoding/json replaces it.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d\xff", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, n)
			fill(e, n)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2025, 1, 2, 3, 4, 5, *n, time.FixedZone("x", 3600))))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	}
}

func TestToValueMatchesJSON(t *testing.T) {
	var full Input
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	whole := evidence.Evidence{ID: "sha256:aa", Kind: evidence.KindSBOM, Source: "file", Subjects: []evidence.Digest{}}
	for name, x := range map[string]any{
		"every field set":         full,
		"zero input":              Input{},
		"empty evidence":          Input{Evidence: []evidence.Evidence{}},
		"empty but present lists": Input{Evidence: []evidence.Evidence{whole}},
		"nil pointer":             (*evidence.Provenance)(nil),
		"map":                     map[string]any{"a": []any{1.5, "x", nil, true}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := toValue(x)
			if err != nil {
				t.Fatalf("toValue: %v", err)
			}
			if want := viaJSON(t, x); got.Compare(want) != 0 {
				t.Errorf("toValue =\n%v\nwant (encoding/json) =\n%v", got, want)
			}
		})
	}
}

func TestToValueTimeOutOfRange(t *testing.T) {
	in := Input{Deployment: evidence.Deployment{ObservedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if _, err := toValue(in); err == nil {
		t.Error("toValue of a year-10000 time succeeded; want the error encoding/json gives")
	}
}
