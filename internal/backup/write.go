package backup

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// Source is the store a backup is taken from.
type Source interface {
	EachAssociation(ctx context.Context, fn func(*pi.Association) error) error
	ResourceTags(ctx context.Context) (map[string]map[string]string, error)
	Settings(ctx context.Context) (map[string]string, error)
}

// Write writes the whole of src to w, one association a line, and returns
// how many associations it wrote.
func Write(ctx context.Context, src Source, w io.Writer, now time.Time) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	head := marshal(header{Format: Format, Version: Version, ExportedAt: now.UTC().Format(time.RFC3339)})
	bw.Write(head[:len(head)-1]) // leave the object open
	bw.WriteString(`,"associations":[`)
	n := 0
	err := src.EachAssociation(ctx, func(a *pi.Association) error {
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		bw.Write(marshal(fromAssociation(a)))
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	tags, err := src.ResourceTags(ctx)
	if err != nil {
		return n, err
	}
	settings, err := src.Settings(ctx)
	if err != nil {
		return n, err
	}
	fmt.Fprintf(bw, "\n],\n\"resourceTags\":%s,\n\"settings\":%s}\n", marshal(tags), marshal(settings))
	return n, bw.Flush()
}
