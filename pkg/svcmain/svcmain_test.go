package svcmain_test

import (
	"flag"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/svcmain"
)

func TestParsePrecedence(t *testing.T) {
	t.Setenv("ASPM_NATS_URL", "nats://env:4222")
	t.Setenv("ASPM_LISTEN", "env:1")
	t.Setenv("ASPM_MAX_BLOB_SIZE", "not-a-number")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	url := fs.String("nats-url", "nats://default:4222", "")
	listen := fs.String("listen", "default:1", "")
	other := fs.String("other", "default", "")
	if err := svcmain.Parse(fs, []string{"--listen", "flag:1"}); err != nil {
		t.Fatal(err)
	}
	if *url != "nats://env:4222" || *listen != "flag:1" || *other != "default" {
		t.Errorf("got url=%q listen=%q other=%q; want env, flag, default", *url, *listen, *other)
	}

	fs = flag.NewFlagSet("y", flag.ContinueOnError)
	fs.Int64("max-blob-size", 1, "")
	if err := svcmain.Parse(fs, nil); err == nil {
		t.Error("invalid environment value accepted")
	}
}

func TestListAndNamedPaths(t *testing.T) {
	var l svcmain.List
	for _, v := range []string{"a,b", " c ", ""} {
		if err := l.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(svcmain.List{"a", "b", "c"}, l); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	m, err := svcmain.NamedPaths([]string{"k1=/a", "k2=/b=c"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"k1": "/a", "k2": "/b=c"}, m); diff != "" {
		t.Errorf("named paths (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"nokey", "=path", "name="} {
		if _, err := svcmain.NamedPaths([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLogger(t *testing.T) {
	if _, err := svcmain.Logger(nil, "loud", "json"); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := svcmain.Logger(nil, "info", "xml"); err == nil {
		t.Error("bad format accepted")
	}
	if l, err := svcmain.Logger(nil, "debug", "text"); err != nil || l == nil {
		t.Errorf("debug/text: %v", err)
	}
}
