package script

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// allowList decides which files may run. It keeps names, not file handles, and resolves them on
// every call so that the check and the run see the same file system state.
type allowList struct {
	dir     string            // absolute, cleaned Options.Dir as configured; "" when unset
	realDir string            // dir with symbolic links resolved
	files   map[string]string // Allow entries by full path and by unambiguous base name
}

func newAllowList(dir string, allow []string) (*allowList, error) {
	a := &allowList{files: map[string]string{}}
	var errs []error
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("Dir %q: %w", dir, err))
		} else if real, err := filepath.EvalSymlinks(abs); err != nil {
			errs = append(errs, fmt.Errorf("Dir %q: %w", dir, err))
		} else if fi, err := os.Stat(real); err != nil {
			errs = append(errs, fmt.Errorf("Dir %q: %w", dir, err))
		} else if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("Dir %q: not a directory", dir))
		} else {
			a.dir, a.realDir = abs, real
		}
	}
	bases := map[string]int{}
	var fulls []string
	for i, p := range allow {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, fmt.Errorf("Allow[%d]: empty path", i))
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("Allow[%d] %q: %w", i, p, err))
			continue
		}
		if _, err := checkExecutable(abs, abs); err != nil {
			errs = append(errs, fmt.Errorf("Allow[%d]: %w", i, err))
			continue
		}
		if _, dup := a.files[abs]; !dup {
			a.files[abs] = abs
			fulls = append(fulls, abs)
			bases[filepath.Base(abs)]++
		}
	}
	for _, full := range fulls {
		if b := filepath.Base(full); bases[b] == 1 {
			a.files[b] = full
		}
	}
	return a, errors.Join(errs...)
}

// refusal is a script name that may not run, with a reason a person can act on. It matches
// ErrNotAllowed. The scripts directory is not named: its path is the operator's business.
type refusal struct{ msg string }

func (r *refusal) Error() string        { return r.msg }
func (r *refusal) Is(target error) bool { return target == ErrNotAllowed }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// resolve maps a script name from the parameters to the real path to execute.
func (a *allowList) resolve(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", refuse("script %q is not allowed: not a file name", name)
	}
	if p, ok := a.files[name]; ok {
		return checkExecutable(name, p)
	}
	if a.dir == "" {
		return "", refuse("script %s is not allowed: it is not in the allow-list (actions.script.allow)", name)
	}
	for _, elem := range strings.Split(filepath.ToSlash(name), "/") {
		if elem == ".." {
			return "", refuse("script %s is not allowed: \"..\" leaves the scripts directory", name)
		}
	}
	rel := filepath.Clean(name)
	if filepath.IsAbs(rel) {
		var ok bool
		if rel, ok = within(a.dir, rel); !ok {
			if rel, ok = within(a.realDir, filepath.Clean(name)); !ok {
				return "", refuse("script %s is not allowed: it is outside the scripts directory", name)
			}
		}
	}
	if rel == "." {
		return "", refuse("script %s is not allowed: it names the scripts directory itself", name)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(a.realDir, rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", refuse("no script %s in the scripts directory", name)
		}
		return "", refuse("script %s cannot be read: %v", name, errors.Unwrap(err))
	}
	if _, ok := within(a.realDir, real); !ok {
		return "", refuse("script %s is not allowed: it links outside the scripts directory", name)
	}
	if err := checkRunnable(name, real); err != nil {
		return "", err
	}
	return real, nil
}

// within reports whether path lies strictly inside dir, and its path relative to dir.
func within(dir, path string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// checkExecutable resolves links in p and checks that it is a regular file with an execute bit;
// name is how the caller named it.
func checkExecutable(name, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", refuse("script %s does not exist", name)
		}
		return "", refuse("script %s cannot be read: %v", name, errors.Unwrap(err))
	}
	if err := checkRunnable(name, real); err != nil {
		return "", err
	}
	return real, nil
}

// checkRunnable checks that real, a path without symbolic links, is an executable regular file.
// Each proposal of a script describes it, so its links are resolved once, not once more here.
func checkRunnable(name, real string) error {
	fi, err := os.Stat(real)
	if err != nil {
		return refuse("script %s cannot be read: %v", name, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return refuse("script %s is not a regular file", name)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return refuse("script %s is not executable (chmod +x)", name)
	}
	return nil
}
