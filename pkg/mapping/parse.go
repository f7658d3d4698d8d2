package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// ParseGiven reads an import's mapping written as a JSON object of column
// header to field name, or null to ignore the column; "" is no mapping.
func ParseGiven(text string) (Given, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var g Given
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	err := dec.Decode(&g)
	if err == nil && dec.More() {
		err = fmt.Errorf("more than one JSON value")
	}
	if err == nil && g == nil {
		err = fmt.Errorf("null is not an object")
	}
	if err != nil {
		return nil, &Error{fmt.Sprintf(`mapping: not a JSON object of column header to field name or null, e.g. {"E-mail 1 - Value": "email", "Notes": null}: %v`, err)}
	}
	return g, nil
}
