// Command clusterddl writes the ClickHouse cluster DDL (replicated and Distributed tables)
// generated from the store's migrations; see package clusterddl. It is run by go generate in
// pkg/store/clickhouse/clusterddl.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/aspmhq/aspm/pkg/store/clickhouse/clusterddl"
)

func main() {
	migrations := flag.String("migrations", "pkg/store/clickhouse/migrations", "directory of the NNNN_name.sql migrations")
	out := flag.String("out", "deploy/clickhouse/cluster.sql", "file to write; - for standard output")
	flag.Parse()
	ddl, err := clusterddl.Generate(os.DirFS(*migrations))
	if err == nil {
		if *out == "-" {
			_, err = os.Stdout.Write(ddl)
		} else {
			err = os.WriteFile(*out, ddl, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterddl:", err)
		os.Exit(1)
	}
}
