package imports

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/schema"
)

// A preview validates the first PreviewRows data rows, reading at most
// MaxPreviewBytes of a text file. An XLSX workbook is read as an upload
// is (its directory is at its end), within the upload's limits.
const (
	PreviewRows     = 20
	MaxPreviewBytes = 4 << 20
)

// PreviewRequest is a file to preview for a tenant: the fields of an upload.
type PreviewRequest struct {
	Tenant  string
	Body    io.Reader
	Options envelope.Options
	Mapping mapping.Given
	File    filereader.Options
}

// Preview is what an import of a file would do with its first rows.
type Preview struct {
	filereader.Info
	Schema  string         `json:"schema"`
	Mode    string         `json:"mode"`
	Key     string         `json:"key"`
	Header  []string       `json:"header"`
	Fields  []string       `json:"fields"` // the schema's fields, a mapping's choices
	Mapping mapping.Report `json:"mapping"`
	Missing []string       `json:"missing"` // fields every row needs that no column provides
	Rows    []PreviewRow   `json:"rows"`
	// More says the file has rows after these (or was not read further).
	More bool `json:"more"`
}

// PreviewRow is one data row of a preview and its problems, as the
// validator would report them; none means it would be imported.
type PreviewRow struct {
	Row      int                `json:"row"`
	Cells    []string           `json:"cells"`
	Problems []envelope.Problem `json:"problems"`
}

// ValidateFunc is the validator's judgment of a chunk of rows
// (validator.Validate): the preview's rows are judged by the same code.
type ValidateFunc func(s *schema.Schema, ch *envelope.RowChunk) ([]envelope.Record, []envelope.Outcome)

// Preview reads the start of a file and says how it would be imported:
// how it was read, the mapping, and the first rows' problems. Nothing is
// stored or published. Bad options, an unreadable file or a mapping that
// cannot be used are a RequestError (400) as for an upload.
func (s *Service) Preview(ctx context.Context, req PreviewRequest, validate ValidateFunc) (Preview, error) {
	opts := req.Options
	sch, err := s.checkNewOptions(ctx, req.Tenant, &opts)
	if err != nil {
		return Preview{}, err
	}
	if req.File.TempDir == "" {
		req.File.TempDir = s.cfg.TempDir
	}
	if req.File.JSONFields == nil {
		req.File.JSONFields = jsonFields(sch)
	}
	rd, cleanup, err := filereader.Open(previewBody(req.Body), req.File)
	defer func() { _ = cleanup() }()
	if err != nil {
		status, msg := fileErrorStatus(err)
		return Preview{}, reqErr(status, msg)
	}
	plan, err := mapping.Decide(sch, rd.Header(), req.Mapping)
	var me *mapping.Error
	if errors.As(err, &me) {
		return Preview{}, reqErr(http.StatusBadRequest, me.Message)
	}
	if err != nil {
		return Preview{}, err
	}
	var rows []filereader.Row
	more := false
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The rows before the cut are still shown.
			more = true
			break
		}
		if len(rows) == PreviewRows {
			more = true
			break
		}
		rows = append(rows, row)
	}
	key, _ := sch.ResolveKey(opts.Key)
	return Preview{
		Info: filereader.Describe(rd), Schema: opts.Schema, Mode: opts.Mode, Key: key,
		Header: rd.Header(), Fields: sch.FieldNames(), Mapping: plan.Report(), Missing: nonNil(plan.Missing(sch, key)),
		Rows: JudgeRows(sch, opts, rd.Header(), plan, rows, validate), More: more,
	}, nil
}

// previewBody bounds what a preview reads of a text file.
func previewBody(body io.Reader) io.Reader {
	br := bufio.NewReader(body)
	if head, _ := br.Peek(4); len(head) == 4 && string(head[:2]) == "PK" {
		return br // a workbook: read whole, within the upload's limits
	}
	return io.LimitReader(br, MaxPreviewBytes)
}

// JudgeRows validates rows of a file with header, mapped by plan, as the
// validator judges an import's rows: each as a chunk of the mapped fields.
// A row whose width is not the header's is not mapped, and fails as the
// validator fails it (schema.RowLengthError).
func JudgeRows(sch *schema.Schema, opts envelope.Options, header []string, plan *mapping.Plan, rows []filereader.Row, validate ValidateFunc) []PreviewRow {
	out := make([]PreviewRow, 0, len(rows))
	for _, r := range rows {
		pr := PreviewRow{Row: r.Number, Cells: r.Cells, Problems: []envelope.Problem{}}
		if pr.Cells == nil {
			pr.Cells = []string{}
		}
		if e := schema.RowLengthError(len(r.Cells), len(header)); r.Err == nil && e != nil {
			pr.Problems = append(pr.Problems, envelope.Problem{Field: e.Field, Code: envelope.CodeValidation, Message: e.Message})
			out = append(out, pr)
			continue
		}
		raw := envelope.RawRow{Row: r.Number, Cells: plan.Row(r.Cells)}
		if r.Err != nil {
			raw = envelope.RawRow{Row: r.Number, Error: r.Err.Error()}
		}
		_, outcomes := validate(sch, &envelope.RowChunk{Options: opts, Header: plan.Header(), Rows: []envelope.RawRow{raw}})
		for _, o := range outcomes {
			pr.Problems = append(pr.Problems, o.Problems...)
		}
		out = append(out, pr)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
