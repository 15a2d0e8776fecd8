// Command aspm is the project's CLI; see `aspm --help`.
package main

import (
	"os"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
