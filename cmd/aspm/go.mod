module github.com/aspmhq/aspm/cmd/aspm

go 1.26.0

require github.com/aspmhq/aspm/pkg v0.0.0

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.1.0 // indirect
)

replace github.com/aspmhq/aspm/pkg => ../../pkg
