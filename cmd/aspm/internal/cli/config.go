package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/aspmhq/aspm/pkg/svcmain"
)

// configFlag is the persistent flag naming the config file.
const configFlag = "config"

// defaultConfigPath is $XDG_CONFIG_HOME/aspm/config.yaml, or ~/.config/aspm/config.yaml.
func defaultConfigPath() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "aspm", "config.yaml")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".config", "aspm", "config.yaml")
	}
	return ""
}

// applySettings fills every flag of cmd not given on the command line: from its ASPM_*
// environment variable, else from the config file, else it keeps its default. Errors are
// usage errors naming the variable or the file and key.
func applySettings(cmd *cobra.Command) error {
	fs := cmd.Flags()
	if err := applyEnv(fs); err != nil {
		return err
	}
	path, explicit := defaultConfigPath(), false
	if f := fs.Lookup(configFlag); f != nil && f.Changed { // --config, or $ASPM_CONFIG
		path, explicit = f.Value.String(), true
	}
	if path == "" {
		return nil
	}
	cfg, err := readConfig(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: config file: %w", errUsage, err)
	}
	if err := checkConfig(cmd.Root(), cfg, ""); err != nil {
		return fmt.Errorf("%w: config file %s: %w", errUsage, path, err)
	}
	if err := applyConfig(cmd, cfg); err != nil {
		return fmt.Errorf("%w: config file %s: %w", errUsage, path, err)
	}
	return nil
}

// applyEnv sets every flag not given on the command line from its ASPM_* variable.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		if v, ok := os.LookupEnv(svcmain.EnvName(f.Name)); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%w: environment %s=%q: %w", errUsage, svcmain.EnvName(f.Name), v, serr)
			}
		}
	})
	return err
}

// readConfig reads a YAML config file into nested maps; numbers stay as written.
func readConfig(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var cfg map[string]any
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%s: want a mapping of flag names and command sections: %w", path, err)
	}
	return cfg, nil
}

// checkConfig fails on the first key of section (under cmd; prefix is its key path) that is
// neither a subcommand's section (a mapping) nor a flag of cmd or of a command under it.
func checkConfig(cmd *cobra.Command, section map[string]any, prefix string) error {
	keys := make([]string, 0, len(section))
	for k := range section {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if sub, ok := section[k].(map[string]any); ok {
			child := subcommand(cmd, k)
			switch {
			case child == nil && hasFlag(cmd, k):
				return fmt.Errorf("key %q: --%s takes a value or a list, not a mapping", prefix+k, k)
			case child == nil:
				return fmt.Errorf("unknown key %q: %q has no subcommand %q", prefix+k, cmd.CommandPath(), k)
			}
			if err := checkConfig(child, sub, prefix+k+"."); err != nil {
				return err
			}
			continue
		}
		if k == configFlag {
			return fmt.Errorf("key %q: the config file cannot name another config file", prefix+k)
		}
		if !hasFlag(cmd, k) {
			return fmt.Errorf("unknown key %q: no flag --%s in %q or its subcommands", prefix+k, k, cmd.CommandPath())
		}
	}
	return nil
}

// subcommand returns cmd's subcommand called name (or aliased so), or nil.
func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

// hasFlag reports whether cmd or a command under it has flag --name.
func hasFlag(cmd *cobra.Command, name string) bool {
	if name == "help" {
		return false
	}
	if cmd.Flags().Lookup(name) != nil || cmd.PersistentFlags().Lookup(name) != nil {
		return true
	}
	for _, c := range cmd.Commands() {
		if hasFlag(c, name) {
			return true
		}
	}
	return false
}

// applyConfig sets cmd's flags not set yet from cfg: the section of cmd's own command path
// first, then its parents' sections, then the top level, so the most specific value wins.
func applyConfig(cmd *cobra.Command, cfg map[string]any) error {
	var path []string // command names below the root
	for c := cmd; c.HasParent(); c = c.Parent() {
		path = append([]string{c.Name()}, path...)
	}
	sections := []map[string]any{cfg}
	prefixes := []string{""}
	for i, name := range path {
		parent := sections[len(sections)-1]
		sec, ok := sectionFor(parent, name, cmd, len(path)-i)
		if !ok {
			break
		}
		sections = append(sections, sec)
		prefixes = append(prefixes, prefixes[len(prefixes)-1]+name+".")
	}
	fs := cmd.Flags()
	for i := len(sections) - 1; i >= 0; i-- {
		keys := make([]string, 0, len(sections[i]))
		for k := range sections[i] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := sections[i][k]
			if _, isSection := v.(map[string]any); isSection || v == nil {
				continue
			}
			f := fs.Lookup(k)
			if f == nil || f.Changed {
				continue
			}
			if err := setFlag(fs, f, v); err != nil {
				return fmt.Errorf("key %q: %w", prefixes[i]+k, err)
			}
		}
	}
	return nil
}

// sectionFor returns the section of parent for the command called name, found by name or
// by one of its aliases; up is how many levels above cmd that command is.
func sectionFor(parent map[string]any, name string, cmd *cobra.Command, up int) (map[string]any, bool) {
	c := cmd
	for ; up > 1; up-- {
		c = c.Parent()
	}
	for _, n := range append([]string{name}, c.Aliases...) {
		if sec, ok := parent[n].(map[string]any); ok {
			return sec, true
		}
	}
	return nil, false
}

// setFlag sets f from a config value: a scalar, or a list for a flag that takes several.
func setFlag(fs *pflag.FlagSet, f *pflag.Flag, v any) error {
	list, isList := v.([]any)
	if !isList {
		return fs.Set(f.Name, fmt.Sprint(v))
	}
	items := make([]string, len(list))
	for i, item := range list {
		switch item.(type) {
		case map[string]any, []any:
			return fmt.Errorf("--%s takes a list of values, not of mappings or lists", f.Name)
		}
		items[i] = fmt.Sprint(item)
	}
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		if err := sv.Replace(items); err != nil {
			return err
		}
		f.Changed = true
		return nil
	}
	if f.Value.Type() != "strings" { // svcmain.List, which appends what each Set gives
		return fmt.Errorf("--%s takes one value, not a list", f.Name)
	}
	for _, item := range items {
		if err := fs.Set(f.Name, item); err != nil {
			return err
		}
	}
	return nil
}
