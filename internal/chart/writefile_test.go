package chart

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "charts", "incident-42", "cpu.png")
	if err := WriteFile(path, realistic(120), Options{Width: 640, Height: 300}); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if got := decode(t, b).Bounds().Size(); got.X != 640 || got.Y != 300 {
		t.Errorf("written image is %dx%d, want 640x300", got.X, got.Y)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	assertOnly(t, filepath.Dir(path), "cpu.png")

	// Overwriting replaces the file in place.
	if err := WriteFile(path, realistic(60), Options{}); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	b, _ = os.ReadFile(path)
	if got := decode(t, b).Bounds().Size(); got.X != DefaultWidth {
		t.Errorf("overwritten image is %d wide, want %d", got.X, DefaultWidth)
	}
	assertOnly(t, filepath.Dir(path), "cpu.png")
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "keep.png")
	if err := os.WriteFile(existing, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		s    Series
		is   error
	}{
		{"invalid series leaves the old file", existing, Series{}, ErrNoData},
		{"empty path", "", realistic(10), nil},
		{"parent is a file", filepath.Join(blocker, "x.png"), realistic(10), nil},
		{"target is a directory", dir, realistic(10), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteFile(tt.path, tt.s, Options{})
			if err == nil {
				t.Fatal("WriteFile succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "old" {
		t.Errorf("failed write changed the existing file to %q", b)
	}
	assertOnly(t, dir, "file", "keep.png")
}

// assertOnly fails unless dir holds exactly the named entries: no temporary
// file may be left behind.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("%s holds %q, want %q", dir, got, names)
		}
	}
}
