package provenance_test

import (
	"errors"
	"fmt"

	"github.com/aspmhq/aspm/pkg/provenance"
)

func ExampleStatement_Provenance() {
	st, err := provenance.ParseStatement([]byte(`{
		"_type": "https://in-toto.io/Statement/v1",
		"subject": [{"name": "app", "digest": {"sha256": "9e183c89765d92a440f44ac7059385c778cbadad0ee8fe3208360efb07c0ba09"}}],
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate": {
			"buildDefinition": {
				"buildType": "https://actions.github.io/buildtypes/workflow/v1",
				"externalParameters": {"workflow": {"repository": "https://github.com/acme/app", "ref": "refs/tags/v1.2.0", "path": ".github/workflows/release.yml"}},
				"internalParameters": {"github": {"event_name": "push", "runner_environment": "github-hosted"}},
				"resolvedDependencies": [{"uri": "git+https://github.com/acme/app@refs/tags/v1.2.0", "digest": {"gitCommit": "8f70009fde0c94ade6ce2a054b94718c819126ec"}}]
			},
			"runDetails": {"builder": {"id": "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0"}}
		}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := st.Provenance()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Names("sha256:9E183C89765D92A440F44AC7059385C778CBADAD0EE8FE3208360EFB07C0BA09"))
	fmt.Println(p.PredicateVersion, p.SourceRepository, p.SourceRef, p.SourceDigest)
	fmt.Println(p.Workflow, p.EventName, p.RunnerEnvironment)
	// Output:
	// true
	// v1 https://github.com/acme/app refs/tags/v1.2.0 8f70009fde0c94ade6ce2a054b94718c819126ec
	// .github/workflows/release.yml push github-hosted
}

func ExampleMalformedError() {
	st, err := provenance.ParseStatement([]byte(`{
		"_type": "https://in-toto.io/Statement/v0.1",
		"subject": [{"name": "app", "digest": {"sha256": "ab"}}],
		"predicateType": "https://slsa.dev/provenance/v0.2",
		"predicate": {"materials": [{"uri": "git+https://github.com/acme/app"}, {"uri": 42}]}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = st.Provenance()
	var me *provenance.MalformedError
	if errors.As(err, &me) {
		fmt.Println(errors.Is(err, provenance.ErrMalformed), me.Field)
	}
	// Output:
	// true predicate.materials[1].uri
}
