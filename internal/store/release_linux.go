//go:build linux

package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped advises the kernel that the mapping of s's file is not needed (MADV_DONTNEED).
// The mapping's address and length are read inside a read transaction, which holds bbolt's
// mapping lock: the file cannot be remapped (when it grows) or unmapped (on close) until the
// advice is given, so it applies to that mapping and nothing else. On a shared file mapping the
// advice only drops page-table entries; a read after it faults the page back in from the page
// cache, with the same contents.
func (s *Bolt) releaseMapped() error {
	return s.db.View(func(*bolt.Tx) error {
		start := s.db.Info().Data
		path, err := filepath.Abs(s.db.Path())
		if err == nil {
			path, err = filepath.EvalSymlinks(path)
		}
		if err != nil {
			return fmt.Errorf("release the store's mapped pages: %w", err)
		}
		length, err := mappingLength(start, path)
		if err != nil {
			return err
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, length, syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("release the store's mapped pages: madvise: %w", errno)
		}
		return nil
	})
}

// mappingLength finds, in /proc/self/maps, the length of the mapping that starts at start and
// maps the file at path.
func mappingLength(start uintptr, path string) (uintptr, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("release the store's mapped pages: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path, e.g.
		// 7f2c54a00000-7f2c54a08000 r--s 00000000 fd:01 1234 /data/smartcloudops.db
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || uintptr(a) != start {
			continue
		}
		if strings.Join(fields[5:], " ") != path || !strings.HasSuffix(fields[1], "s") {
			return 0, fmt.Errorf("release the store's mapped pages: the mapping at %#x is %s %s, not the shared mapping of %s",
				start, fields[1], strings.Join(fields[5:], " "), path)
		}
		return uintptr(b - a), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("release the store's mapped pages: reading /proc/self/maps: %w", err)
	}
	return 0, fmt.Errorf("release the store's mapped pages: no mapping of %s at %#x", path, start)
}
