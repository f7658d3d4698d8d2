package compat

import (
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/store"
)

// StoreLister lists imports from the store's summaries, for
// Config.ListImports: the same summaries GET /v1/imports lists (the
// application layer's List), without row errors.
func StoreLister(st *store.Store) ListFunc {
	return imports.New(imports.Deps{Store: st}, imports.Config{}).List
}
