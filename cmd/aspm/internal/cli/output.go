package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats of -o. table and text are two names for the output meant for people.
const (
	formatTable = "table"
	formatText  = "text"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// outputFormats are the values -o accepts, in the order help and completion list them.
var outputFormats = []string{formatTable, formatText, formatJSON, formatYAML}

// outputFlag is the -o/--output flag. It is a pflag.Value so that a bad value from the
// command line, the environment or the config file is a usage error when it is set.
type outputFlag string

// String returns the format.
func (o *outputFlag) String() string { return string(*o) }

// Set accepts one of outputFormats.
func (o *outputFlag) Set(v string) error {
	if !slices.Contains(outputFormats, v) {
		return fmt.Errorf("want %s", strings.Join(outputFormats, ", "))
	}
	*o = outputFlag(v)
	return nil
}

// Type names the value in help.
func (o *outputFlag) Type() string { return "format" }

// registerOutput adds -o/--output to cmd with the default def (table or text), and its
// completions. what says what the human format prints, for the help text.
func registerOutput(cmd *cobra.Command, o *outputFlag, def outputFlag, what string) {
	*o = def
	usage := "output format: table or text (" + what + "), json or yaml"
	cmd.Flags().VarP(o, "output", "o", usage)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
}

// write prints v as JSON or YAML, or calls human to print it for people. YAML is made from
// v's JSON, so the json tags name the fields in both.
func (o outputFlag) write(w io.Writer, v any, human func(io.Writer) error) error {
	switch o {
	case formatJSON:
		return writeJSONTo(w, v)
	case formatYAML:
		return writeYAMLTo(w, v)
	}
	return human(w)
}

// writeJSONTo writes v as indented JSON.
func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeYAMLTo writes v as YAML, converted from its JSON.
func writeYAMLTo(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding YAML: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// writeFields writes v's JSON for people, one line per leaf value — nested objects' keys
// joined with dots, in the order v's fields have — as a two-column table.
func writeFields(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if err := flattenJSON(dec, "", tw); err != nil {
		return err
	}
	return tw.Flush()
}

// flattenJSON reads one JSON value from dec and writes its leaves as "path\tvalue" lines.
// Arrays of scalars are joined with commas; other arrays index their elements.
func flattenJSON(dec *json.Decoder, path string, w io.Writer) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("reading JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return fmt.Errorf("reading JSON: %w", err)
				}
				key := fmt.Sprint(k)
				if path != "" {
					key = path + "." + key
				}
				if err := flattenJSON(dec, key, w); err != nil {
					return err
				}
			}
		case '[':
			var raws []json.RawMessage
			for dec.More() {
				var r json.RawMessage
				if err := dec.Decode(&r); err != nil {
					return fmt.Errorf("reading JSON: %w", err)
				}
				raws = append(raws, r)
			}
			var scalars []string
			for _, r := range raws {
				if len(r) > 0 && (r[0] == '{' || r[0] == '[') {
					scalars = nil
					break
				}
				scalars = append(scalars, scalarString(r))
			}
			if len(scalars) == len(raws) {
				fmt.Fprintf(w, "%s\t%s\n", path, strings.Join(scalars, ","))
			} else {
				for i, r := range raws {
					sub := json.NewDecoder(bytes.NewReader(r))
					sub.UseNumber()
					if err := flattenJSON(sub, fmt.Sprintf("%s[%d]", path, i), w); err != nil {
						return err
					}
				}
			}
		}
		_, err := dec.Token() // the closing delimiter
		if err != nil {
			return fmt.Errorf("reading JSON: %w", err)
		}
	case nil:
		fmt.Fprintf(w, "%s\t-\n", path)
	default:
		fmt.Fprintf(w, "%s\t%v\n", path, t)
	}
	return nil
}

// scalarString returns a JSON scalar as people read it: a string unquoted, a number as written.
func scalarString(r json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || v == nil {
		return string(r)
	}
	return fmt.Sprint(v)
}
