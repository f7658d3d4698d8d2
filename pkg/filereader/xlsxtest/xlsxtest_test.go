package xlsxtest

import (
	"archive/zip"
	"bytes"
	"io"
	"testing"
)

// A bomb is a valid archive: its sheet unpacks, CRC checked, to the size it
// declares, from a file a hundredth of that or less.
func TestWriteBombUnpacksToItsSize(t *testing.T) {
	const size = 64 << 20
	var b bytes.Buffer
	if err := WriteBomb(&b, size, 0); err != nil {
		t.Fatal(err)
	}
	if b.Len() > size/100 {
		t.Fatalf("the file is %d bytes, want under %d", b.Len(), size/100)
	}
	zr, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name != SheetPath {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc) // the reader checks size and CRC at the end
		if err != nil {
			t.Fatalf("unpacking the sheet: %v", err)
		}
		if uint64(n) != f.UncompressedSize64 || n > size || n < size-(1<<20) {
			t.Fatalf("sheet unpacks to %d bytes, declares %d, want about %d", n, f.UncompressedSize64, size)
		}
	}
	if len(names) != 5 || names[4] != SheetPath {
		t.Fatalf("parts = %v, want the frame and the sheet", names)
	}
}
