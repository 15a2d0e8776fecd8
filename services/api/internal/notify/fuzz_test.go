package notify

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"
)

// FuzzVerifySignature checks arbitrary webhook timestamps, signatures and bodies, as a
// receiver gets them: only the signature Sign makes for that timestamp and body passes, and
// every failure is ErrStale or ErrBadSignature.
func FuzzVerifySignature(f *testing.F) {
	secret := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	f.Add("1800000000", Sign(secret, 1_800_000_000, []byte(`{}`)), []byte(`{}`))
	f.Add("1800000000", "sha256=", []byte(`{}`))
	f.Add("-9223372036854775808", "sha256=00", []byte(nil))
	f.Add("9223372036854775807", "", []byte("x"))
	f.Add("1.8e9", "SHA256=00", []byte("x"))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		err := VerifySignature(secret, ts, sig, body, now, 5*time.Minute)
		if err != nil {
			if !errors.Is(err, ErrStale) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v is neither ErrStale nor ErrBadSignature", err)
			}
			return
		}
		n, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil || sig != Sign(secret, n, body) {
			t.Fatalf("accepted ts %q sig %q for body %q", ts, sig, body)
		}
	})
}

// FuzzDuration reads arbitrary JSON as a configuration duration: what it accepts writes back
// as the same duration.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"30s"`, `"1h2m"`, `"-0"`, `30`, `null`, `"9999999999h"`, `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Duration
		if json.Unmarshal(data, &d) != nil {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("marshal %v: %v", time.Duration(d), err)
		}
		var again Duration
		if err := json.Unmarshal(b, &again); err != nil || again != d {
			t.Fatalf("round trip of %s: %s, %v", b, time.Duration(again), err)
		}
	})
}
