// Package schemas ships the JSON documents of Intake: entity schemas
// (entities/*.json) loaded at start, and the JSON Schemas of the message
// envelopes (envelope/*.json) that upstream publishers can validate against.
package schemas

import "embed"

// Entities holds entities/*.json.
//
//go:embed entities/*.json
var Entities embed.FS

// Envelopes holds envelope/*.json.
//
//go:embed envelope/*.json
var Envelopes embed.FS
