// Package examples holds the configuration, rule files, action scripts and demo series a user
// starts from. They are embedded in the binary so that `smartcloudops serve` runs with no files at
// all: the default configuration watches this machine, and `--demo` replays the bundled incident.
package examples

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

// FS holds smartcloudops.yaml, rules/, actions/ and demo/.
//
//go:embed smartcloudops.yaml rules/*.yaml actions/*.sh demo/*.csv
var FS embed.FS

// Extract writes the embedded files under dir (rules/, actions/, demo/), replacing earlier copies,
// with scripts executable, and returns dir.
func Extract(dir string) (string, error) {
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		b, err := FS.ReadFile(path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o640)
		if filepath.Ext(path) == ".sh" {
			mode = 0o750
		}
		tmp := target + ".tmp"
		if err := os.WriteFile(tmp, b, mode); err != nil {
			return err
		}
		if err := os.Chmod(tmp, mode); err != nil {
			return err
		}
		return os.Rename(tmp, target)
	})
	return dir, err
}
