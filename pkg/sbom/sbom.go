// Package sbom parses software bills of materials — CycloneDX JSON and XML (with cyclonedx-go)
// and SPDX JSON (with spdx/tools-golang) — into a summary and the list of components they name.
//
// Parse tells the format from the content, not from a media type or a file name. It never
// panics: every failure is an error that wraps ErrMalformed or ErrUnknownFormat and says what
// was wrong.
package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// ErrMalformed is the class of errors for a document that is, or claims to be, CycloneDX or SPDX
// but cannot be read: invalid JSON or XML, a missing or unsupported spec version, a field of the
// wrong type, or input larger than MaxSize.
var ErrMalformed = errors.New("malformed SBOM")

// ErrUnknownFormat is the class of errors for well-formed input of another kind: JSON that is
// neither CycloneDX nor SPDX, XML whose root is not a CycloneDX bom, or SPDX tag-value (which
// this package does not read).
var ErrUnknownFormat = errors.New("not a CycloneDX (JSON or XML) or SPDX JSON document")

// Media types of SBOM documents.
const (
	MediaTypeCycloneDX    = "application/vnd.cyclonedx+json"
	MediaTypeCycloneDXXML = "application/vnd.cyclonedx+xml"
	MediaTypeSPDX         = "application/spdx+json"
)

// MaxSize is the largest document Parse reads, in bytes; larger input is rejected with
// ErrMalformed before any parsing. The largest SBOM in the test corpus is under 1 MiB.
const MaxSize = 64 << 20

// Component is one package, library, device or other thing an SBOM lists.
type Component struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	PURL    string `json:"purl,omitempty"`
	// Type is the CycloneDX component type ("library", "application", "operating-system",
	// "cryptographic-asset", …) or the SPDX primaryPackagePurpose in the same spelling
	// (lower case, "-" for "_"); empty when the document gives none.
	Type string `json:"type,omitempty"`
	// Licenses are the licences the document states, each once, in its order and spelling:
	// SPDX ids, SPDX expressions or free-text names. For SPDX they are licenseDeclared then
	// licenseConcluded (when it differs), leaving out NOASSERTION and NONE.
	Licenses []string `json:"licenses,omitempty"`
	// Hashes maps a lower-case algorithm name ("sha256", "sha1", "sha3-256", "blake2b-256",
	// "md5", …; CycloneDX's "SHA-256" and SPDX's "SHA256" both become "sha256") to the digest
	// in lower-case hex. When an algorithm is listed twice the first value is kept.
	Hashes map[string]string `json:"hashes,omitempty"`
}

// Document is a parsed SBOM.
type Document struct {
	Summary    evidence.SBOM
	Components []Component
}

// Parse reads a CycloneDX (JSON or XML) or SPDX (JSON) document, telling which from its content:
// a JSON object with bomFormat "CycloneDX", a JSON object with an spdxVersion "SPDX-…", or XML
// whose root element is bom in a CycloneDX namespace (http://cyclonedx.org/schema/bom/1.x).
// Summary.SpecVersion is "1.2".."1.6" (cyclonedx-go also reads 1.0, 1.1 and 1.7) or "2.2"/"2.3".
// CycloneDX components nested in components are listed too, depth first; the one in
// metadata.component (the subject of the SBOM) is not. SPDX components are the packages; files
// and snippets are not components.
//
// Errors wrap ErrMalformed (including input larger than MaxSize) or ErrUnknownFormat and name
// what was wrong; Parse returns a nil Document with any error and never panics.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrMalformed, len(data), MaxSize)
	}
	// RFC 8259 lets a parser ignore a byte order mark; encoding/json does not, so drop it here.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	content := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(content) == 0:
		return nil, fmt.Errorf("%w: empty document", ErrMalformed)
	case content[0] == '<':
		return parseXML(data)
	case isTagValue(content):
		return nil, fmt.Errorf("%w: SPDX tag-value (only SPDX JSON is read)", ErrUnknownFormat)
	}
	return parseJSON(data)
}

// parseJSON tells CycloneDX from SPDX JSON by their format fields and parses the document.
// The first pass reads the format fields and, for CycloneDX, the fields Parse keeps (see
// cdxJSON); a CycloneDX document it cannot read is read again with cyclonedx-go, whose errors
// say what is wrong, and a document it could not read at all is probed for its format alone.
func parseJSON(data []byte) (*Document, error) {
	var fast cdxJSON
	if err := json.Unmarshal(data, &fast); err == nil {
		if fast.BOMFormat == "CycloneDX" {
			if doc, ok := fast.document(); ok {
				return doc, nil
			}
		}
		return parseFormat(data, fast.BOMFormat, fast.SPDXVersion)
	}
	var probe struct {
		BOMFormat   string `json:"bomFormat"`
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		// JSON that is not an object (an array, a string, …) is JSON of another kind.
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field == "" {
			return nil, fmt.Errorf("%w: JSON %s, not an object", ErrUnknownFormat, te.Value)
		}
		return nil, fmt.Errorf("%w: JSON: %w", ErrMalformed, err)
	}
	return parseFormat(data, probe.BOMFormat, probe.SPDXVersion)
}

// parseFormat parses data as the format its bomFormat and spdxVersion fields name.
func parseFormat(data []byte, bomFormat, spdxVersion string) (*Document, error) {
	switch {
	case bomFormat == "CycloneDX":
		return parseCycloneDXJSON(data)
	case strings.HasPrefix(spdxVersion, "SPDX-"):
		return parseSPDXJSON(data, spdxVersion)
	case bomFormat != "":
		return nil, fmt.Errorf("%w: JSON with bomFormat %q, not \"CycloneDX\"", ErrUnknownFormat, bomFormat)
	case spdxVersion != "":
		return nil, fmt.Errorf("%w: JSON with spdxVersion %q, not \"SPDX-…\"", ErrUnknownFormat, spdxVersion)
	}
	return nil, fmt.Errorf("%w: JSON object with neither bomFormat nor spdxVersion", ErrUnknownFormat)
}

// isTagValue reports whether content is an SPDX tag-value document: its first line that is
// neither blank nor a comment is the SPDXVersion tag.
func isTagValue(content []byte) bool {
	for len(content) > 0 {
		line, rest, _ := bytes.Cut(content, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return bytes.HasPrefix(line, []byte("SPDXVersion:"))
		}
		content = rest
	}
	return false
}

// guard runs decode and turns a panic in a decoding library into an error, so that Parse keeps
// its promise never to panic whatever the library does with hostile input.
func guard(decode func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	return decode()
}

// addHash records value under the normalised name of alg in m, allocating m when needed, and
// returns m. Empty names and values are left out; a repeated algorithm keeps its first value.
func addHash(m map[string]string, alg, value string) map[string]string {
	alg = strings.ToLower(strings.TrimSpace(alg))
	if rest, ok := strings.CutPrefix(alg, "sha-"); ok { // CycloneDX "SHA-256" → "sha256"
		alg = "sha" + rest
	}
	value = strings.ToLower(strings.TrimSpace(value))
	if alg == "" || value == "" {
		return m
	}
	if _, ok := m[alg]; ok {
		return m
	}
	if m == nil {
		m = make(map[string]string)
	}
	m[alg] = value
	return m
}

// addLicense appends l to ls unless it is blank or already there.
func addLicense(ls []string, l string) []string {
	l = strings.TrimSpace(l)
	if l == "" {
		return ls
	}
	for _, x := range ls {
		if x == l {
			return ls
		}
	}
	return append(ls, l)
}
