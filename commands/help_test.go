package commands

import (
	"strings"
	"testing"
)

// TestHelpIsCode checks that the command list, whose columns are aligned with spaces, is
// marked for a monospace block, so proportional fonts in chat do not break the columns.
func TestHelpIsCode(t *testing.T) {
	r, _ := newRouter(t)
	m := say(r, "alice", "help")
	if !m.Code || !strings.Contains(m.Text, "Commands:") {
		t.Errorf("help = %+v, want the command list marked as code", m)
	}
}
