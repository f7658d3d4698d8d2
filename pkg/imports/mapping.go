package imports

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/schema"
)

// MappingStore keeps tenants' saved mappings. *store.Store implements it.
type MappingStore interface {
	PutMapping(ctx context.Context, tenant, name string, given mapping.Given) error
	GetMapping(ctx context.Context, tenant, name string) (mapping.Given, bool, error)
	DeleteMapping(ctx context.Context, tenant, name string) (bool, error)
}

// SavedMappingPrefix marks a mapping option that names a saved mapping
// (mapping=@google) instead of giving one.
const SavedMappingPrefix = "@"

var mappingName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ResolveMapping reads an import's mapping option as given: "" (none), a
// JSON object, or @name of the tenant's saved mapping. A bad one is a 400
// RequestError.
func (s *Service) ResolveMapping(ctx context.Context, tenant, option string) (mapping.Given, error) {
	option = strings.TrimSpace(option)
	if option == "" {
		return nil, nil
	}
	name, saved := strings.CutPrefix(option, SavedMappingPrefix)
	if !saved {
		g, err := mapping.ParseGiven(option)
		if err != nil {
			return nil, reqErr(http.StatusBadRequest, err.Error())
		}
		return g, nil
	}
	g, found, err := s.store.GetMapping(ctx, tenant, name)
	switch {
	case err != nil:
		return nil, reqErr(http.StatusServiceUnavailable, "cannot read the saved mappings: "+err.Error())
	case !found:
		return nil, reqErr(http.StatusBadRequest, fmt.Sprintf("no saved mapping named %q (save one with PUT /v1/mappings/%s)", name, name))
	}
	return g, nil
}

// SaveMapping stores a tenant's mapping under name; body is its JSON object.
func (s *Service) SaveMapping(ctx context.Context, tenant, name string, body []byte) (mapping.Given, error) {
	ms, err := s.mappingStore(name)
	if err != nil {
		return nil, err
	}
	g, err := mapping.ParseGiven(string(body))
	if err != nil {
		return nil, reqErr(http.StatusBadRequest, err.Error())
	}
	if g == nil {
		g = mapping.Given{}
	}
	if err := ms.PutMapping(ctx, tenant, name, g); err != nil {
		return nil, reqErr(http.StatusServiceUnavailable, "cannot save the mapping: "+err.Error())
	}
	return g, nil
}

// SavedMapping reads a tenant's saved mapping (found false if none).
func (s *Service) SavedMapping(ctx context.Context, tenant, name string) (mapping.Given, bool, error) {
	ms, err := s.mappingStore(name)
	if err != nil {
		return nil, false, err
	}
	g, found, err := ms.GetMapping(ctx, tenant, name)
	if err != nil {
		return nil, false, reqErr(http.StatusServiceUnavailable, "cannot read the saved mappings: "+err.Error())
	}
	return g, found, nil
}

// DeleteMapping removes a tenant's saved mapping (found false if none).
func (s *Service) DeleteMapping(ctx context.Context, tenant, name string) (bool, error) {
	ms, err := s.mappingStore(name)
	if err != nil {
		return false, err
	}
	found, err := ms.DeleteMapping(ctx, tenant, name)
	if err != nil {
		return false, reqErr(http.StatusServiceUnavailable, "cannot delete the mapping: "+err.Error())
	}
	return found, nil
}

func (s *Service) mappingStore(name string) (MappingStore, error) {
	if !mappingName.MatchString(name) {
		return nil, reqErr(http.StatusBadRequest, fmt.Sprintf("mapping name %q: use 1 to 64 letters, digits, _ or -", name))
	}
	return s.store, nil
}

// PlanImport decides how the header's columns map to the schema's fields
// (mapping.ForImport) and refuses, as a 400, a header no row could be
// imported by: the mapping cannot be used, or a field every row needs
// (required, or the import's key) has no column. Every way in (an upload,
// an upstream open with a header) decides it here.
func PlanImport(sch *schema.Schema, header []string, opts envelope.Options) (*mapping.Plan, error) {
	plan, err := mapping.ForImport(sch, header, opts.Mapping)
	if err != nil {
		return nil, reqErr(http.StatusBadRequest, "header: "+err.Error())
	}
	key := opts.Key
	if key == schema.AnyHandle {
		key = "" // any of the handles: a row without one fails alone
	}
	if err := plan.CheckMissing(sch, key); err != nil {
		return nil, reqErr(http.StatusBadRequest, "header: "+err.Error())
	}
	return plan, nil
}
