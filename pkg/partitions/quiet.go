package partitions

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/subjects"
)

// NewImport returns a new import ID (ids.NewImport) whose partition of the
// import-keyed streams (INTAKE_ROWS, INTAKE_UNIQUE, INTAKE_OUTCOMES: one
// hash of tenant and import) holds no other import's backlog, if one of a
// few draws finds one. By hash alone 1 import in n shares another's
// partition and waits there behind that import's backlog (a 10-row import
// behind a 1,000,000-row one for minutes, measured). The backlog read is
// the writer's stream's, the slowest stage's. Without it (the broker away,
// a user not allowed to read stream info), any new ID.
func NewImport(ctx context.Context, js jetstream.JetStream, tenant string) string {
	busy, n, err := backlog(ctx, js, subjects.StreamUnique)
	if err != nil || len(busy) == 0 {
		return ids.NewImport()
	}
	return quietImport(busy, n, tenant, ids.NewImport)
}

// quietDraws bounds the IDs drawn for a quiet partition: with half the
// partitions busy, 1 import in 65,536 still gets a busy one.
const quietDraws = 16

// quietImport draws IDs until one's partition (of n) is not busy, at most
// quietDraws; the last drawn otherwise.
func quietImport(busy map[int]bool, n int, tenant string, draw func() string) string {
	id := draw()
	for i := 1; i < quietDraws && busy[subjects.Partition(subjects.Unique, tenant, id, n)]; i++ {
		id = draw()
	}
	return id
}

// backlog reads which partitions of a partitioned work-queue stream hold
// messages, and how many partitions it has.
func backlog(ctx context.Context, js jetstream.JetStream, stream string) (map[int]bool, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, 0, err
	}
	tr := st.CachedInfo().Config.SubjectTransform
	if tr == nil {
		return nil, 0, nil
	}
	n := subjects.PartitionsOf(tr.Destination)
	if n == 0 {
		return nil, 0, nil
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		return nil, 0, err
	}
	busy := map[int]bool{}
	for subject := range info.State.Subjects {
		// intake.<stage>.<p>.<tenant>.<import>
		if tok := strings.Split(subject, "."); len(tok) == 5 {
			if p, err := strconv.Atoi(tok[2]); err == nil {
				busy[p] = true
			}
		}
	}
	return busy, n, nil
}
