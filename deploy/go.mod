module github.com/aspmhq/aspm/deploy

go 1.26.0
