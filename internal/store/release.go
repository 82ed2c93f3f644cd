package store

// ReleaseMapped drops the resident pages of a bbolt store's mapped file from the process's page
// tables, so they stop counting in its RSS (RssFile in /proc/PID/status) until read again; the
// kernel's page cache keeps them, so the next read costs a minor fault, not a disk read, and no
// data changes. A save traverses the B+tree of every key it writes through the mapping, which
// otherwise leaves about as much of the file resident as the saves touched: at 100,000 series,
// 4 KB a series. Stores other than bbolt, or other systems than Linux, do nothing.
func ReleaseMapped(s Store) error {
	if f, ok := s.(*ctxFenced); ok {
		s = f.Store
	}
	if b, ok := s.(*Bolt); ok {
		return b.releaseMapped()
	}
	return nil
}
