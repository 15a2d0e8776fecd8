package provenance

import (
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"time"

	slsa01 "github.com/in-toto/attestation/go/predicates/provenance/v01"
	slsa02 "github.com/in-toto/attestation/go/predicates/provenance/v02"
	slsa1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/aspmhq/aspm/pkg/evidence"
)

const slsaProvenancePrefix = "https://slsa.dev/provenance/"

// MaxDependencies bounds Provenance.ResolvedDependencies; further dependencies are dropped.
const MaxDependencies = 100

// slsaVersion returns the SLSA provenance version a predicate type names ("v0.1", "v0.2",
// "v1", or what follows the prefix when it is none of those) and whether it is SLSA
// provenance at all. "v1.0", "v1.1" and drafts such as "v1.0?draft" are "v1".
func slsaVersion(predicateType string) (string, bool) {
	rest, ok := strings.CutPrefix(predicateType, slsaProvenancePrefix)
	if !ok {
		return "", false
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	if rest == "v1" || strings.HasPrefix(rest, "v1.") {
		return "v1", true
	}
	return rest, true
}

// Provenance normalises a SLSA provenance predicate (v0.1, v0.2 or v1) into what the pipeline
// keeps about the build: builder, build type, source repository, ref and commit, workflow,
// trigger event, runner environment, invocation, start and finish times and resolved
// dependencies. For predicate types that are not SLSA provenance it returns nil and no error.
// Errors are *MalformedError: a predicate field of the wrong JSON type, a bad timestamp, or an
// SLSA provenance version this package does not read (field "predicateType").
func (s *Statement) Provenance() (*evidence.Provenance, error) {
	ver, ok := slsaVersion(s.PredicateType())
	if !ok {
		return nil, nil
	}
	pred := s.st.GetPredicate()
	switch ver {
	case "v0.1":
		var p slsa01.Provenance
		if err := decodePredicate(pred, &p); err != nil {
			return nil, err
		}
		return fromV01(&p, pred), nil
	case "v0.2":
		var p slsa02.Provenance
		if err := decodePredicate(pred, &p); err != nil {
			return nil, err
		}
		return fromV02(&p, pred), nil
	case "v1":
		var p slsa1.Provenance
		if err := decodePredicate(pred, &p); err != nil {
			return nil, err
		}
		return fromV1(&p), nil
	}
	return nil, malformed("predicateType", fmt.Errorf("unsupported SLSA provenance version %q", ver))
}

func fromV1(p *slsa1.Provenance) *evidence.Provenance {
	bd, rd := p.GetBuildDefinition(), p.GetRunDetails()
	out := &evidence.Provenance{
		PredicateVersion: "v1",
		BuildType:        bd.GetBuildType(),
		BuilderID:        rd.GetBuilder().GetId(),
		InvocationID:     rd.GetMetadata().GetInvocationId(),
		StartedOn:        timeOf(rd.GetMetadata().GetStartedOn()),
		FinishedOn:       timeOf(rd.GetMetadata().GetFinishedOn()),
	}
	ext := bd.GetExternalParameters().GetFields()
	internal := bd.GetInternalParameters().GetFields()

	// GitHub's workflow build types name the repository, ref and workflow path in "workflow";
	// Cloud Build names its config source the same way in "buildConfigSource".
	for _, key := range []string{"workflow", "buildConfigSource"} {
		if wf := ext[key].GetStructValue(); wf != nil {
			out.SourceRepository = NormalizeRepository(str(wf, "repository"))
			out.SourceRef = str(wf, "ref")
			out.Workflow = str(wf, "path")
			break
		}
	}
	// slsa-github-generator's container-based builder and the v1.0 draft delegator name the
	// source as a resource descriptor, the latter wrapped in "artifact".
	if src := ext["source"].GetStructValue(); src != nil && out.SourceRepository == "" {
		if a := src.GetFields()["artifact"].GetStructValue(); a != nil {
			src = a
		}
		if repo, ref, ok := gitURI(str(src, "uri")); ok {
			out.SourceRepository, out.SourceRef = repo, ref
			out.SourceDigest = commitOf(stringMap(src.GetFields()["digest"].GetStructValue()))
		}
	}
	// Otherwise (slsa-github-generator's BYOB builders) the source is the first git dependency;
	// in every case the commit is that of the dependency on the source repository.
	for _, dep := range bd.GetResolvedDependencies() {
		repo, ref, ok := gitURI(dep.GetUri())
		if !ok {
			continue
		}
		if out.SourceRepository == "" {
			out.SourceRepository = repo
		}
		if !strings.EqualFold(repo, out.SourceRepository) { // GitHub names are case-insensitive
			continue
		}
		if out.SourceRef == "" {
			out.SourceRef = ref
		}
		if out.SourceDigest == "" {
			out.SourceDigest = commitOf(dep.GetDigest())
		}
		break
	}

	// GitHub Actions: GitHub's build type keeps the run's context in internalParameters.github,
	// slsa-github-generator's BYOB builders keep GITHUB_* variables at the top level.
	gh := internal["github"].GetStructValue()
	out.EventName = firstNonEmpty(str(gh, "event_name"), fieldString(internal, "GITHUB_EVENT_NAME"))
	out.RunnerEnvironment = firstNonEmpty(str(gh, "runner_environment"), runnerOf(out.BuilderID))
	if out.Workflow == "" {
		out.Workflow = firstNonEmpty(
			workflowOf(fieldString(internal, "GITHUB_WORKFLOW_REF"), out.SourceRepository),
			draftWorkflowPath(ext["workflowPath"]),
		)
	}

	for _, dep := range bd.GetResolvedDependencies() {
		out.ResolvedDependencies = appendDependency(out.ResolvedDependencies, dep.GetUri(), dep.GetDigest())
	}
	return out
}

func fromV02(p *slsa02.Provenance, raw *structpb.Struct) *evidence.Provenance {
	md := p.GetMetadata()
	out := &evidence.Provenance{
		PredicateVersion: "v0.2",
		BuildType:        p.GetBuildType(),
		BuilderID:        p.GetBuilder().GetId(),
		InvocationID:     firstNonEmpty(md.GetBuildInvocationId(), invocationIDSpelling(raw)),
		StartedOn:        timeOf(md.GetBuildStartedOn()),
		FinishedOn:       timeOf(md.GetBuildFinishedOn()),
	}
	cs := p.GetInvocation().GetConfigSource()
	materials := make([]material, 0, len(p.GetMaterials()))
	for _, m := range p.GetMaterials() {
		materials = append(materials, material{m.GetUri(), m.GetDigest()})
	}
	setSource(out, append([]material{{cs.GetUri(), cs.GetDigest()}}, materials...), materials)

	env := p.GetInvocation().GetEnvironment().GetFields()
	out.EventName = firstNonEmpty(fieldString(env, "github_event_name"), fieldString(env, "GITHUB_EVENT_NAME"))
	out.RunnerEnvironment = runnerOf(out.BuilderID)
	out.Workflow = workflowOf(cs.GetEntryPoint(), out.SourceRepository)
	for _, m := range materials {
		out.ResolvedDependencies = appendDependency(out.ResolvedDependencies, m.uri, m.digest)
	}
	return out
}

func fromV01(p *slsa01.Provenance, raw *structpb.Struct) *evidence.Provenance {
	md, recipe := p.GetMetadata(), p.GetRecipe()
	out := &evidence.Provenance{
		PredicateVersion: "v0.1",
		BuildType:        recipe.GetType(),
		BuilderID:        p.GetBuilder().GetId(),
		InvocationID:     firstNonEmpty(md.GetBuildInvocationId(), invocationIDSpelling(raw)),
		StartedOn:        timeOf(md.GetBuildStartedOn()),
		FinishedOn:       timeOf(md.GetBuildFinishedOn()),
	}
	materials := make([]material, 0, len(p.GetMaterials()))
	for _, m := range p.GetMaterials() {
		materials = append(materials, material{m.GetUri(), m.GetDigest()})
	}
	// The recipe says which material holds the build definition, when it says so.
	var first []material
	if _, set := raw.GetFields()["recipe"].GetStructValue().GetFields()["definedInMaterial"]; set {
		if i := int(recipe.GetDefinedInMaterial()); i >= 0 && i < len(materials) {
			first = materials[i : i+1]
		}
	}
	setSource(out, append(first, materials...), materials)
	if out.SourceRef == "" && strings.HasPrefix(out.BuilderID, "https://cloudbuild.googleapis.com/") {
		// Cloud Build states the ref only as trigger substitutions.
		subs := recipe.GetArguments().GetFields()["substitutions"].GetStructValue()
		if tag := str(subs, "TAG_NAME"); tag != "" {
			out.SourceRef = "refs/tags/" + tag
		} else if branch := str(subs, "BRANCH_NAME"); branch != "" {
			out.SourceRef = "refs/heads/" + branch
		}
	}
	out.RunnerEnvironment = runnerOf(out.BuilderID)
	out.Workflow = workflowOf(recipe.GetEntryPoint(), out.SourceRepository)
	for _, m := range materials {
		out.ResolvedDependencies = appendDependency(out.ResolvedDependencies, m.uri, m.digest)
	}
	return out
}

type material struct {
	uri    string
	digest map[string]string
}

// setSource sets the source of a v0.x provenance: the first git URI ("git+https://…") among
// preferred, else the first plain http(s) URI among materials (Cloud Build and the
// Kubernetes release name their repositories so).
func setSource(out *evidence.Provenance, preferred, materials []material) {
	for _, m := range preferred {
		if repo, ref, ok := gitURI(m.uri); ok {
			out.SourceRepository, out.SourceRef, out.SourceDigest = repo, ref, commitOf(m.digest)
			return
		}
	}
	for _, m := range materials {
		if strings.HasPrefix(m.uri, "https://") || strings.HasPrefix(m.uri, "http://") {
			repo, commit := commitURL(m.uri)
			out.SourceRepository, out.SourceDigest = repo, firstNonEmpty(commitOf(m.digest), commit)
			return
		}
	}
}

// commitURL splits a commit's web URL ("https://github.com/o/r/commit/<sha>", as Cloud Build's
// v0.2 builder states its source) into the repository and the commit; other URLs are returned
// as the repository.
func commitURL(uri string) (repo, commit string) {
	if i := strings.LastIndex(uri, "/commit/"); i > 0 {
		c := uri[i+len("/commit/"):]
		if _, err := hex.DecodeString(c); err == nil && (len(c) == 40 || len(c) == 64) {
			return NormalizeRepository(uri[:i]), c
		}
	}
	return NormalizeRepository(uri), ""
}

// invocationIDSpelling returns metadata.buildInvocationID, slsa-github-generator's spelling of
// buildInvocationId, which the typed predicate does not know.
func invocationIDSpelling(raw *structpb.Struct) string {
	return str(raw.GetFields()["metadata"].GetStructValue(), "buildInvocationID")
}

// draftWorkflowPath reads the v1.0 draft delegator's externalParameters.workflowPath, a string
// or {"value": string}.
func draftWorkflowPath(v *structpb.Value) string {
	if s := v.GetStringValue(); s != "" {
		return s
	}
	return str(v.GetStructValue(), "value")
}

// workflowOf returns a GitHub workflow ref ("o/r/.github/workflows/x.yml@refs/heads/main") as
// the workflow's path (".github/workflows/x.yml") when it lives in repo; anything else is
// returned as it is.
func workflowOf(s, repo string) string {
	i := strings.Index(s, "/.github/workflows/")
	if i <= 0 || repo == "" {
		return s
	}
	if !strings.HasSuffix(strings.ToLower(repo), "/"+strings.ToLower(s[:i])) {
		return s
	}
	path, _, _ := strings.Cut(s[i+1:], "@")
	return path
}

// runnerOf returns the runner environment a GitHub Actions builder ID names
// ("https://github.com/actions/runner/github-hosted"), or "".
func runnerOf(builderID string) string {
	rest, ok := strings.CutPrefix(builderID, "https://github.com/actions/runner/")
	if ok && (rest == "github-hosted" || rest == "self-hosted") {
		return rest
	}
	return ""
}

// commitOf returns the git commit in a digest set.
func commitOf(digest map[string]string) string {
	for _, k := range []string{"gitCommit", "sha1"} {
		if v := digest[k]; v != "" {
			return v
		}
	}
	return ""
}

func appendDependency(deps []evidence.Dependency, uri string, digest map[string]string) []evidence.Dependency {
	if len(deps) >= MaxDependencies || (uri == "" && len(digest) == 0) {
		return deps
	}
	d := evidence.Dependency{URI: uri}
	if len(digest) > 0 {
		d.Digest = maps.Clone(digest)
	}
	return append(deps, d)
}

func timeOf(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime().UTC()
	return &t
}

// str returns the string field k of s, or "" when s is nil or the field is not a string.
func str(s *structpb.Struct, k string) string {
	return s.GetFields()[k].GetStringValue()
}

func fieldString(fields map[string]*structpb.Value, k string) string {
	return fields[k].GetStringValue()
}

// stringMap returns the string fields of s.
func stringMap(s *structpb.Struct) map[string]string {
	out := map[string]string{}
	for k, v := range s.GetFields() {
		if sv, ok := v.GetKind().(*structpb.Value_StringValue); ok {
			out[k] = sv.StringValue
		}
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// gitURI splits "git+https://github.com/o/r@refs/heads/main" into the repository URL and ref.
func gitURI(uri string) (repo, ref string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "git+")
	if !ok {
		return "", "", false
	}
	// The ref follows the last "@" in the path; an "@" in the host part is user info.
	start := 0
	if i := strings.Index(rest, "://"); i >= 0 {
		start = i + 3
	}
	if j := strings.IndexByte(rest[start:], '/'); j >= 0 {
		start += j
		if k := strings.LastIndexByte(rest[start:], '@'); k >= 0 {
			rest, ref = rest[:start+k], rest[start+k+1:]
		}
	}
	return NormalizeRepository(rest), ref, true
}

// NormalizeRepository turns the spellings of a repository URL found in provenance
// ("git+https://github.com/o/r.git", "github.com/o/r", "https://user@host/o/r/") into one
// ("https://github.com/o/r", "https://host/o/r"). It returns "" when s names no host.
func NormalizeRepository(s string) string {
	scheme, rest, ok := strings.Cut(strings.TrimPrefix(s, "git+"), "://")
	if !ok {
		scheme, rest = "https", strings.TrimPrefix(s, "git+")
	}
	rest = strings.TrimSuffix(strings.TrimSuffix(rest, "/"), ".git")
	host, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:] // drop user info
	}
	if host == "" {
		return ""
	}
	s = scheme + "://" + host
	if path = strings.TrimSuffix(path, "/"); path != "" {
		s += "/" + path
	}
	return s
}
