//go:build !linux

package store

// releaseMapped does nothing outside Linux.
func (s *Bolt) releaseMapped() error { return nil }
