package detector

import "time"

// SavedModel returns the labels and the model bytes of a stored series' record, in the binary
// format or the JSON of earlier releases.
func SavedModel(record []byte) (map[string]string, []byte, error) {
	s, err := decodeSaved(record)
	return s.Labels, s.Model, err
}

// SavedSince returns when the open episode of a stored series' record began, or the zero time.
func SavedSince(record []byte) (time.Time, error) {
	s, err := decodeSaved(record)
	return s.episode().Since, err
}
