module github.com/aspmhq/aspm/policies

go 1.26.0
