module github.com/aspmhq/aspm/services/scorer

go 1.26.0

require github.com/aspmhq/aspm/pkg v0.0.0

replace github.com/aspmhq/aspm/pkg => ../../pkg
