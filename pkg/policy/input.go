package policy

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// This file converts Go values to the ast.Value that encoding/json would encode and OPA
// would parse back, without the text in between: Evaluate spends most of its Go time here
// otherwise. It follows encoding/json for what the evidence types use (json tags with
// omitempty and "-", strings, booleans, integers, pointers, slices, string-keyed maps and
// time.Time); any other type (floats, other Marshalers, embedded structs, ",string",
// ",omitzero") is encoded through encoding/json itself, so that the result is always the
// round trip's.

// encoder converts one Go value of a given type, taking the terms it needs from a.
type encoder func(a *terms, v reflect.Value) (ast.Value, error)

// terms hands out the *ast.Terms of one conversion from blocks, rather than allocating each.
type terms struct {
	block []ast.Term
}

// term returns a term holding x.
func (a *terms) term(x ast.Value) *ast.Term {
	if len(a.block) == 0 {
		a.block = make([]ast.Term, 64)
	}
	t := &a.block[0]
	a.block = a.block[1:]
	t.Value = x
	return t
}

// encoders caches an encoder per type (reflect.Type → encoder).
var encoders sync.Map

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// toValue returns x as encoding/json would encode it, parsed as an ast.Value.
func toValue(x any) (ast.Value, error) {
	if x == nil {
		return ast.Null{}, nil
	}
	v := reflect.ValueOf(x)
	return encoderFor(v.Type())(&terms{}, v)
}

// encoderFor returns the cached encoder of t, building it once; a recursive type waits for
// its own encoder through an indirection, as encoding/json does.
func encoderFor(t reflect.Type) encoder {
	if f, ok := encoders.Load(t); ok {
		return f.(encoder)
	}
	var (
		wg sync.WaitGroup
		f  encoder
	)
	wg.Add(1)
	indirect, loaded := encoders.LoadOrStore(t, encoder(func(a *terms, v reflect.Value) (ast.Value, error) {
		wg.Wait()
		return f(a, v)
	}))
	if loaded {
		return indirect.(encoder)
	}
	f = newEncoder(t)
	wg.Done()
	encoders.Store(t, f)
	return f
}

// newEncoder builds the encoder of t.
func newEncoder(t reflect.Type) encoder {
	switch {
	case t == timeType:
		return encodeTime
	case t.Kind() == reflect.Pointer:
		// A pointer marshals as what it points to, unless only the pointer has the methods.
		if marshals(t) && !marshals(t.Elem()) {
			return encodeJSON
		}
		return pointerEncoder(t)
	case marshals(t) || marshals(reflect.PointerTo(t)):
		return encodeJSON
	}
	switch t.Kind() {
	case reflect.String:
		return encodeString
	case reflect.Bool:
		return func(_ *terms, v reflect.Value) (ast.Value, error) { return ast.Boolean(v.Bool()), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(_ *terms, v reflect.Value) (ast.Value, error) {
			return ast.Number(strconv.FormatInt(v.Int(), 10)), nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(_ *terms, v reflect.Value) (ast.Value, error) {
			return ast.Number(strconv.FormatUint(v.Uint(), 10)), nil
		}
	case reflect.Interface:
		return func(a *terms, v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			e := v.Elem()
			return encoderFor(e.Type())(a, e)
		}
	case reflect.Struct:
		return structEncoder(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return encodeJSON // base64, as encoding/json writes []byte
		}
		return sliceEncoder(t)
	case reflect.Array:
		return arrayEncoder(t)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return encodeJSON
		}
		return mapEncoder(t)
	}
	return encodeJSON
}

// marshals reports whether t encodes itself, as a json.Marshaler or an encoding.TextMarshaler.
func marshals(t reflect.Type) bool {
	return t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType)
}

// encodeJSON converts v through encoding/json: the reference behaviour, for every type the
// encoders here do not handle themselves.
func encodeJSON(_ *terms, v reflect.Value) (ast.Value, error) {
	raw, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return ast.ValueFromReader(bytes.NewReader(raw))
}

func encodeTime(_ *terms, v reflect.Value) (ast.Value, error) {
	text, err := v.Interface().(time.Time).MarshalText()
	if err != nil {
		return nil, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
	}
	return ast.String(text), nil
}

func encodeString(_ *terms, v reflect.Value) (ast.Value, error) {
	return ast.String(validUTF8(v.String())), nil
}

// validUTF8 replaces each byte of s that is not valid UTF-8 with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func pointerEncoder(t reflect.Type) encoder {
	elem := encoderFor(t.Elem())
	return func(a *terms, v reflect.Value) (ast.Value, error) {
		if v.IsNil() {
			return ast.Null{}, nil
		}
		return elem(a, v.Elem())
	}
}

func sliceEncoder(t reflect.Type) encoder {
	elems := arrayEncoder(t)
	return func(a *terms, v reflect.Value) (ast.Value, error) {
		if v.IsNil() {
			return ast.Null{}, nil
		}
		return elems(a, v)
	}
}

func arrayEncoder(t reflect.Type) encoder {
	elem := encoderFor(t.Elem())
	return func(a *terms, v reflect.Value) (ast.Value, error) {
		elems := make([]*ast.Term, v.Len())
		for i := range elems {
			x, err := elem(a, v.Index(i))
			if err != nil {
				return nil, err
			}
			elems[i] = a.term(x)
		}
		return ast.NewArray(elems...), nil
	}
}

func mapEncoder(t reflect.Type) encoder {
	elem := encoderFor(t.Elem())
	return func(a *terms, v reflect.Value) (ast.Value, error) {
		if v.IsNil() {
			return ast.Null{}, nil
		}
		obj := ast.NewObjectWithCapacity(v.Len())
		for it := v.MapRange(); it.Next(); {
			x, err := elem(a, it.Value())
			if err != nil {
				return nil, err
			}
			obj.Insert(a.term(ast.String(validUTF8(it.Key().String()))), a.term(x))
		}
		return obj, nil
	}
}

// field is one encoded struct field.
type field struct {
	index     int
	name      *ast.Term
	omitEmpty bool
	encode    encoder
}

func structEncoder(t reflect.Type) encoder {
	var fields []field
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return encodeJSON // promoted fields: leave them to encoding/json
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		omitEmpty := false
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "omitempty":
				omitEmpty = true
			case "":
			default: // string, omitzero, format…
				return encodeJSON
			}
		}
		fields = append(fields, field{index: i, name: ast.StringTerm(name), omitEmpty: omitEmpty, encode: encoderFor(f.Type)})
	}
	return func(a *terms, v reflect.Value) (ast.Value, error) {
		obj := ast.NewObjectWithCapacity(len(fields))
		for _, f := range fields {
			fv := v.Field(f.index)
			if f.omitEmpty && isEmpty(fv) {
				continue
			}
			x, err := f.encode(a, fv)
			if err != nil {
				return nil, err
			}
			obj.Insert(f.name, a.term(x))
		}
		return obj, nil
	}
}

// isEmpty is encoding/json's test for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
