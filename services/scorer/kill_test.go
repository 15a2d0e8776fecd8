package scorer_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

// A test binary started with these variables set runs one scorer replica instead of the tests:
// on the NATS cluster at $envChildNATS, writing the SQLite database at $envChildDB, until it
// is signalled (or killed).
const (
	envChildNATS = "ASPM_TEST_SCORER_CHILD_NATS"
	envChildDB   = "ASPM_TEST_SCORER_CHILD_DB"
)

func init() {
	url, db := os.Getenv(envChildNATS), os.Getenv(envChildDB)
	if url == "" || db == "" {
		return
	}
	if err := runChild(url, db); err != nil {
		fmt.Fprintln(os.Stderr, "scorer child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(url, db string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := scorer.New(scorer.Config{Bus: bus.Config{URL: url, Replicas: 3, Name: fmt.Sprintf("scorer-child-%d", os.Getpid())}},
		scorer.Deps{Store: st, Policy: pol, Logger: log})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

// child is a scorer replica running as a process of its own.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

func startChild(t *testing.T, url, db string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{done: make(chan error, 1)}
	c.cmd = exec.Command(exe, "-test.run=^$")
	c.cmd.Env = append(os.Environ(), envChildNATS+"="+url, envChildDB+"="+db)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
		if t.Failed() && c.stderr.Len() > 0 {
			t.Logf("scorer child %d said:\n%s", c.cmd.Process.Pid, c.stderr.String())
		}
	})
	return c
}

// TestScorerReplicaKilled runs two scorer replicas as processes, on a three-node cluster,
// sharing one SQLite database, and kills one (SIGKILL: no ack, no close, a write possibly half
// done) while it holds messages. The other finishes the work: every message is acked, and every
// artifact is scored exactly once in the current state, with one evaluation in its history
// and one row in the listing.
func TestScorerReplicaKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := bustest.StartCluster(t, 3)
	b := c.Connect(3)
	db := filepath.Join(t.TempDir(), "aspm.db")
	st, err := sqlite.Open(ctx, db) // creates the schema before the children share it
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 300
	f := newFleet(n)
	f.putDeployments(t, ctx, b)
	victim := startChild(t, c.URL(), db)
	survivor := startChild(t, c.URL(), db)
	waitConsumer(t, ctx, b, 60*time.Second, "two replicas pulling", func(i *jetstream.ConsumerInfo) bool { return i.NumWaiting >= 2 })
	shortenAckWait(t, ctx, b, 3*time.Second)
	for i := range n {
		if err := f.publish(ctx, b, i); err != nil {
			t.Fatal(err)
		}
	}
	waitConsumer(t, ctx, b, 60*time.Second, "a fifth of the messages acked", func(i *jetstream.ConsumerInfo) bool { return i.AckFloor.Consumer >= n/5 })
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-victim.done; err == nil {
		t.Fatal("the killed replica exited cleanly")
	}
	victim.done <- nil // for the cleanup
	at := consumerInfo(t, ctx, b)
	t.Logf("killed a replica: %d of %d acked, %d delivered and not acked", at.AckFloor.Stream, n, at.NumAckPending)
	if at.NumPending+uint64(at.NumAckPending) == 0 {
		t.Fatal("every message was handled before the kill; the test proves nothing")
	}
	info := waitConsumer(t, ctx, b, 60*time.Second, "every message acked by the survivor", func(i *jetstream.ConsumerInfo) bool {
		return drained(i) && i.AckFloor.Consumer >= n
	})
	t.Logf("consumer: %d deliveries of %d messages", info.Delivered.Consumer, n)
	// The messages the killed replica held unacked were delivered again, to the survivor.
	if info.Delivered.Consumer <= n {
		t.Errorf("%d deliveries of %d messages: the killed replica held none, so the test proves nothing", info.Delivered.Consumer, n)
	}
	select {
	case err := <-survivor.done:
		t.Fatalf("the surviving replica exited: %v\n%s", err, survivor.stderr.String())
	default:
	}
	if got := evidenceMsgs(t, ctx, b); got != n {
		t.Errorf("the stream holds %d evidence messages, want %d", got, n)
	}
	f.check(t, ctx, st)
}
