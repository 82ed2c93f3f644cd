package alertmanager

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/prometheus/common/model"
)

// Fingerprint computes an alert's fingerprint from its labels exactly as Alertmanager does
// (FNV-64a over the sorted label pairs, as 16 hex digits), so a key built from a computed
// fingerprint matches one built from a fingerprint Alertmanager sent.
func Fingerprint(labels map[string]string) string {
	return fmt.Sprintf("%016x", model.LabelsToSignature(labels))
}

// Key returns a stable key for the notification group m belongs to: "am:" and the first 16
// bytes of the SHA-256 of its groupKey in hex. Every notification of the same group, firing or
// resolved, has the same key; the incident store can use it to find the incident to update.
func (m *Message) Key() string {
	sum := sha256.Sum256([]byte(m.GroupKey))
	return "am:" + hex.EncodeToString(sum[:16])
}

// AlertKey returns a stable key for one alert of the group: the group's Key, a slash and the
// alert's fingerprint. The same alert keeps its key across repeated, firing and resolved
// notifications of the group.
func (m *Message) AlertKey(a *Alert) string {
	fp := a.Fingerprint
	if fp == "" {
		fp = Fingerprint(a.Labels)
	}
	return m.Key() + "/" + fp
}
