package clickhouse_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
)

// Open needs a running server, so this example is compiled but not run.
func ExampleOpen() {
	ctx := context.Background()
	s, err := clickhouse.Open(ctx, clickhouse.Config{
		Addr:     []string{"127.0.0.1:9000"}, // the native protocol, not HTTP
		Database: "aspm",                     // created when missing
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	cov, err := s.Coverage(ctx, store.CoverageQuery{Org: "acme", Environment: "prod"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cov.Total, cov.ByLevel)
}
