package provenance

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// decodePredicate decodes the predicate p into the typed predicate m. On failure the
// *MalformedError names the deepest field that does not fit m's schema, below "predicate".
func decodePredicate(p *structpb.Struct, m proto.Message) error {
	raw, err := protojson.Marshal(p)
	if err != nil {
		return malformed("predicate", fmt.Errorf("re-encoding: %w", err))
	}
	if err := unmarshal.Unmarshal(raw, m); err != nil {
		field, cause := blame(m.ProtoReflect().Type().New(), p, "predicate")
		if cause == nil {
			field, cause = "predicate", err
		}
		return malformed(field, cause)
	}
	return nil
}

// blame finds the field of doc that stops it decoding into a message like msg: it decodes each
// known field on its own and descends into the first that fails. It returns the field's path
// below path and the decoding error, or "" and nil when every field decodes on its own. It
// only runs on inputs that already failed to decode, and its depth is bounded by msg's schema.
func blame(msg protoreflect.Message, doc *structpb.Struct, path string) (string, error) {
	fields := msg.Descriptor().Fields()
	keys := make([]string, 0, len(doc.GetFields()))
	for k := range doc.GetFields() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(k))
		}
		if fd == nil {
			continue // unknown fields are discarded
		}
		v := doc.GetFields()[k]
		trial := msg.Type().New()
		err := decodeOne(trial, k, v)
		if err == nil {
			continue
		}
		p := join(path, k)
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() || isWellKnown(fd.Message()) {
			return p, err
		}
		if fd.IsList() {
			for i, el := range v.GetListValue().GetValues() {
				ep := fmt.Sprintf("%s[%d]", p, i)
				sv := el.GetStructValue()
				if sv == nil {
					if _, isNull := el.GetKind().(*structpb.Value_NullValue); isNull {
						return ep, err
					}
					return ep, fmt.Errorf("want an object, got %s", kindName(el))
				}
				if fp, ferr := blame(trial.NewField(fd).List().NewElement().Message(), sv, ep); fp != "" {
					return fp, ferr
				}
			}
			return p, err
		}
		if sv := v.GetStructValue(); sv != nil {
			if fp, ferr := blame(trial.NewField(fd).Message(), sv, p); fp != "" {
				return fp, ferr
			}
		}
		return p, err
	}
	return "", nil
}

// decodeOne decodes the single field {k: v} into msg.
func decodeOne(msg protoreflect.Message, k string, v *structpb.Value) error {
	b, err := protojson.Marshal(&structpb.Struct{Fields: map[string]*structpb.Value{k: v}})
	if err != nil {
		return err
	}
	return unmarshal.Unmarshal(b, msg.Interface())
}

func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func kindName(v *structpb.Value) string {
	switch v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return "a string"
	case *structpb.Value_NumberValue:
		return "a number"
	case *structpb.Value_BoolValue:
		return "a boolean"
	case *structpb.Value_ListValue:
		return "an array"
	case *structpb.Value_StructValue:
		return "an object"
	default:
		return "null"
	}
}
