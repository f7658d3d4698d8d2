module github.com/intake/intake/schemas

go 1.26.0
