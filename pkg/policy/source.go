package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// FileError says which policy or data file could not be loaded, and why. Load, LoadDir,
// LoadPath and RunTests return it (wrapped) for files that fail to read, parse or merge.
type FileError struct {
	// Path is the file's path inside the loaded file system or bundle.
	Path string
	Err  error
}

// Error returns "policy file PATH: REASON".
func (e *FileError) Error() string { return fmt.Sprintf("policy file %s: %v", e.Path, e.Err) }

// Unwrap returns the reason.
func (e *FileError) Unwrap() error { return e.Err }

// file is one loaded file: its path and contents.
type file struct {
	path    string
	content []byte
}

// sources is what a policy directory or bundle holds: Rego modules (with or without their
// tests) and the merged data document.
type sources struct {
	modules []file
	data    map[string]any
	// hashed are the files the policy version is computed over.
	hashed []file
	// origin maps each data path ("data.aspm.x") a file set to that file.
	origin map[string]string
}

// isTest reports whether name is a Rego test module.
func isTest(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// isDataFile reports whether name is a data document: a .json file directly inside a
// directory named "data".
func isDataFile(name string) bool {
	return path.Ext(name) == ".json" && path.Base(path.Dir(name)) == "data"
}

// readSources walks fsys and collects every *.rego (skipping *_test.rego unless withTests) and
// every data/*.json, skipping testdata directories and hidden directories. Each data file must
// hold a JSON object; the objects are merged at the root of data, in path order.
func readSources(fsys fs.FS, withTests bool) (sources, error) {
	src := sources{data: map[string]any{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return &FileError{Path: name, Err: err}
		}
		if d.IsDir() {
			base := path.Base(name)
			if name != "." && (base == "testdata" || strings.HasPrefix(base, ".")) {
				return fs.SkipDir
			}
			return nil
		}
		isRego := path.Ext(name) == ".rego"
		if !(isRego && (withTests || !isTest(name))) && !isDataFile(name) {
			return nil
		}
		content, err := fs.ReadFile(fsys, name)
		if err != nil {
			return &FileError{Path: name, Err: err}
		}
		f := file{path: name, content: content}
		if isRego {
			src.modules = append(src.modules, f)
		} else if err := src.mergeDataFile(f); err != nil {
			return err
		}
		src.hashed = append(src.hashed, f)
		return nil
	})
	if err != nil {
		return sources{}, fmt.Errorf("reading policies: %w", err)
	}
	return src, nil
}

// mergeDataFile decodes f as a JSON object and merges it into src.data.
func (src *sources) mergeDataFile(f file) error {
	var doc any
	if err := util.UnmarshalJSON(f.content, &doc); err != nil {
		return &FileError{Path: f.path, Err: fmt.Errorf("parsing JSON: %w", err)}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return &FileError{Path: f.path, Err: errors.New("a data file must hold a JSON object, merged at the root of data")}
	}
	if src.origin == nil {
		src.origin = map[string]string{}
	}
	if err := src.merge(src.data, obj, "data", f.path); err != nil {
		return &FileError{Path: f.path, Err: err}
	}
	return nil
}

// merge copies from into dst, recursing into objects both have; any other key both have is
// a conflict, reported with its path and the file that set it first.
func (src *sources) merge(dst, from map[string]any, at, file string) error {
	for _, k := range slices.Sorted(maps.Keys(from)) {
		v := from[k]
		here := at + "." + k
		old, exists := dst[k]
		if !exists {
			dst[k] = v
			src.origin[here] = file
			continue
		}
		oldObj, ok1 := old.(map[string]any)
		newObj, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s is already set by %s", here, src.setBy(here))
		}
		if err := src.merge(oldObj, newObj, here, file); err != nil {
			return err
		}
	}
	return nil
}

// setBy returns the file that set path, or the closest enclosing path.
func (src *sources) setBy(path string) string {
	for p := path; p != ""; {
		if f, ok := src.origin[p]; ok {
			return f
		}
		i := strings.LastIndex(p, ".")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return "another data file"
}

// parseModules parses every module as Rego v1; the error names the file.
func parseModules(files []file, caps *ast.Capabilities) (map[string]*ast.Module, error) {
	modules := make(map[string]*ast.Module, len(files))
	opts := ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: caps, ProcessAnnotation: true}
	for _, f := range files {
		m, err := ast.ParseModuleWithOpts(f.path, string(f.content), opts)
		if err != nil {
			return nil, &FileError{Path: f.path, Err: fmt.Errorf("parsing Rego: %w", err)}
		}
		if m == nil {
			return nil, &FileError{Path: f.path, Err: errors.New("parsing Rego: the file is empty")}
		}
		modules[f.path] = m
	}
	return modules, nil
}

// version returns the first 12 hex digits of a SHA-256 over the files' names and contents,
// in name order.
func version(files []file) string {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b file) int { return strings.Compare(a.path, b.path) })
	h := sha256.New()
	for _, f := range sorted {
		h.Write([]byte(f.path))
		h.Write([]byte{0})
		h.Write(f.content)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// canonicalJSON encodes v with sorted object keys, for hashing data that arrived parsed.
func canonicalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
