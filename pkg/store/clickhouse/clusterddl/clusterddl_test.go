package clusterddl_test

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/store/clickhouse/clusterddl"
)

const (
	migrationsDir = "../migrations"
	checkedIn     = "../../../../deploy/clickhouse/cluster.sql"
)

func generate(t *testing.T) string {
	t.Helper()
	ddl, err := clusterddl.Generate(os.DirFS(migrationsDir))
	if err != nil {
		t.Fatal(err)
	}
	return string(ddl)
}

// TestCheckedInIsCurrent fails when a migration changed and deploy/clickhouse/cluster.sql was
// not regenerated.
func TestCheckedInIsCurrent(t *testing.T) {
	want, err := os.ReadFile(checkedIn)
	if err != nil {
		t.Fatal(err)
	}
	if got := generate(t); !bytes.Equal([]byte(got), want) {
		t.Errorf("%s is not what the migrations generate; run `go generate ./store/clickhouse/clusterddl` in pkg/", checkedIn)
	}
}

// source is a table of the migrations.
type source struct {
	name, engine, args, columns string
}

var (
	srcTable  = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS (\w+) (\(.*\)) ENGINE = (\w+)(?:\(([^)]*)\))?\s`)
	localDDL  = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS (\w+)_local ON CLUSTER '\{cluster\}' (\(.*\)) ENGINE = Replicated(\w+)\('([^']*)', '\{replica\}'(?:, ([^)]*))?\)\s`)
	distDDL   = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER '\{cluster\}' AS (\w+)\nENGINE = Distributed\('\{cluster\}', currentDatabase\(\), '(\w+)', cityHash64\((\w+)\)\)$`)
	anyEngine = regexp.MustCompile(`ENGINE = (\w+)`)
)

func sourceTables(t *testing.T) (tables []source, alters, views, inserts []string) {
	t.Helper()
	entries, err := os.ReadDir(migrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(migrationsDir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range clusterddl.SplitStatements(string(data)) {
			switch {
			case strings.HasPrefix(stmt, "CREATE TABLE"):
				m := srcTable.FindStringSubmatch(stmt)
				if m == nil {
					t.Fatalf("%s: cannot read %.60q", e.Name(), stmt)
				}
				tables = append(tables, source{name: m[1], columns: m[2], engine: m[3], args: m[4]})
			case strings.HasPrefix(stmt, "ALTER TABLE"):
				alters = append(alters, stmt)
			case strings.HasPrefix(stmt, "CREATE VIEW"):
				views = append(views, stmt)
			case strings.HasPrefix(stmt, "INSERT"):
				inserts = append(inserts, stmt)
			default:
				t.Fatalf("%s: unexpected statement %.60q", e.Name(), stmt)
			}
		}
	}
	return tables, alters, views, inserts
}

// TestClusterDDL reads the generated DDL back: every table of the migrations (and
// schema_migrations) is replicated with its columns and engine arguments kept, has one
// Distributed table sharded by a column of its own, no table is left unreplicated, every DDL
// statement runs on the whole cluster, and the views and data migrations are carried over.
func TestClusterDDL(t *testing.T) {
	tables, alters, views, inserts := sourceTables(t)
	if len(tables) < 10 {
		t.Fatalf("read %d tables from the migrations; the test's reader is broken", len(tables))
	}
	tables = append(tables, source{name: "schema_migrations", engine: "ReplacingMergeTree",
		columns: "(\n    version    UInt32,\n    name       String,\n    applied_at DateTime\n)"})
	stmts := clusterddl.SplitStatements(generate(t))

	local := map[string][]string{} // table -> its replicated DDL statements
	dist := map[string][]string{}  // table -> its Distributed DDL statements
	distKey := map[string]string{} // table -> sharding column
	var gotAlters, gotViews, gotInserts []string
	for _, s := range stmts {
		if strings.HasPrefix(s, "CREATE") || strings.HasPrefix(s, "ALTER") {
			if !strings.Contains(s, " ON CLUSTER '{cluster}' ") && !strings.Contains(s, " ON CLUSTER '{cluster}'\n") {
				t.Errorf("not ON CLUSTER '{cluster}': %.80q", s)
			}
		}
		for _, m := range anyEngine.FindAllStringSubmatch(s, -1) {
			if e := m[1]; !strings.HasPrefix(e, "Replicated") && e != "Distributed" {
				t.Errorf("an unreplicated %s table: %.80q", e, s)
			}
		}
		switch {
		case localDDL.MatchString(s):
			m := localDDL.FindStringSubmatch(s)
			local[m[1]] = append(local[m[1]], s)
		case distDDL.MatchString(s):
			m := distDDL.FindStringSubmatch(s)
			if m[2] != m[1]+"_local" || m[3] != m[1]+"_local" {
				t.Errorf("Distributed table %s is over %s and %s, want %s_local", m[1], m[2], m[3], m[1])
			}
			dist[m[1]] = append(dist[m[1]], s)
			distKey[m[1]] = m[4]
		case strings.HasPrefix(s, "ALTER TABLE"):
			gotAlters = append(gotAlters, s)
		case strings.HasPrefix(s, "CREATE VIEW"):
			gotViews = append(gotViews, s)
		case strings.HasPrefix(s, "INSERT"):
			gotInserts = append(gotInserts, s)
		default:
			t.Errorf("unexpected statement %.80q", s)
		}
	}
	for _, src := range tables {
		ls := local[src.name]
		if len(ls) != 1 {
			t.Errorf("table %s: %d replicated tables, want 1", src.name, len(ls))
			continue
		}
		m := localDDL.FindStringSubmatch(ls[0])
		if m[2] != src.columns {
			t.Errorf("table %s: columns changed:\n%s\nwant\n%s", src.name, m[2], src.columns)
		}
		if m[3] != src.engine {
			t.Errorf("table %s: engine Replicated%s, want Replicated%s", src.name, m[3], src.engine)
		}
		if want := "/clickhouse/tables/{shard}/{database}/" + src.name + "_local"; m[4] != want {
			t.Errorf("table %s: replication path %s, want %s", src.name, m[4], want)
		}
		if m[5] != src.args {
			t.Errorf("table %s: engine arguments %q after the path and replica, want %q", src.name, m[5], src.args)
		}
		if len(dist[src.name]) != 1 {
			t.Errorf("table %s: %d Distributed tables, want 1", src.name, len(dist[src.name]))
		}
		if k := distKey[src.name]; !regexp.MustCompile(`(?m)^\s+` + k + `\s`).MatchString(src.columns) {
			t.Errorf("table %s: sharded by %q, not one of its columns", src.name, k)
		}
	}
	if len(local) != len(tables) || len(dist) != len(tables) {
		t.Errorf("%d replicated and %d Distributed tables for %d tables", len(local), len(dist), len(tables))
	}
	// Each ALTER runs on the replicated table and on the Distributed one, idempotently.
	if len(gotAlters) != 2*len(alters) {
		t.Errorf("%d ALTER statements for %d in the migrations, want two each", len(gotAlters), len(alters))
	}
	for _, a := range gotAlters {
		if strings.Contains(a, "ADD COLUMN") && !strings.Contains(a, "ADD COLUMN IF NOT EXISTS") {
			t.Errorf("not idempotent: %q", a)
		}
	}
	if len(gotViews) != len(views) {
		t.Errorf("%d views, want %d", len(gotViews), len(views))
	}
	for _, v := range gotViews {
		for _, m := range regexp.MustCompile(`\bFROM (\w+)`).FindAllStringSubmatch(v, -1) {
			if dist[m[1]] == nil {
				t.Errorf("view reads %s, which is not a Distributed table: %.80q", m[1], v)
			}
		}
	}
	if !slices.Equal(gotInserts, inserts) {
		t.Errorf("the data migrations changed: got %d, want the %d of the migrations as they are", len(gotInserts), len(inserts))
	}
}

func TestStatement(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{
			name: "engine arguments kept after the path and replica; a comment with a quote and a parenthesis",
			in:   "CREATE TABLE IF NOT EXISTS t (\n    a String, -- it's (odd)\n    v UInt64\n) ENGINE = ReplacingMergeTree(v)\nORDER BY (a, v)\nSETTINGS index_granularity = 1024",
			want: []string{
				"CREATE TABLE IF NOT EXISTS t_local ON CLUSTER '{cluster}' (\n    a String, -- it's (odd)\n    v UInt64\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/t_local', '{replica}', v)\nORDER BY (a, v)\nSETTINGS index_granularity = 1024",
				"CREATE TABLE IF NOT EXISTS t ON CLUSTER '{cluster}' AS t_local\nENGINE = Distributed('{cluster}', currentDatabase(), 't_local', cityHash64(a))",
			},
		},
		{
			name: "no engine arguments",
			in:   "CREATE TABLE u (d Date) ENGINE = MergeTree ORDER BY d",
			want: []string{
				"CREATE TABLE IF NOT EXISTS u_local ON CLUSTER '{cluster}' (d Date) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/u_local', '{replica}') ORDER BY d",
				"CREATE TABLE IF NOT EXISTS u ON CLUSTER '{cluster}' AS u_local\nENGINE = Distributed('{cluster}', currentDatabase(), 'u_local', cityHash64(d))",
			},
		},
		{
			name: "add column",
			in:   "ALTER TABLE t ADD COLUMN c UInt8 DEFAULT 0",
			want: []string{
				"ALTER TABLE t_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS c UInt8 DEFAULT 0",
				"ALTER TABLE t ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS c UInt8 DEFAULT 0",
			},
		},
		{
			name: "view",
			in:   "CREATE VIEW IF NOT EXISTS v AS\nSELECT a FROM t",
			want: []string{"CREATE VIEW IF NOT EXISTS v ON CLUSTER '{cluster}' AS SELECT a FROM t"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := clusterddl.Statement(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n;\n"), strings.Join(tc.want, "\n;\n"))
			}
		})
	}
	for _, bad := range []string{
		"CREATE MATERIALIZED VIEW m TO t AS SELECT 1",
		"CREATE TABLE l (a String) ENGINE = Log",
		"CREATE TABLE r (a String) ENGINE = ReplicatedMergeTree('/p', '{replica}') ORDER BY a",
		"CREATE TABLE n (a String) ENGINE = MergeTree",
		"CREATE TABLE q (a String, b String -- unbalanced ( ) ENGINE = MergeTree ORDER BY a",
		"DROP TABLE t",
	} {
		if got, err := clusterddl.Statement(bad); err == nil {
			t.Errorf("Statement(%q) = %q, want an error", bad, got)
		}
	}
}
