package incident

import "context"

// modifyUnlocked changes an incident without the manager's lock, as another replica writing the
// same store would.
func (m *Manager) modifyUnlocked(ctx context.Context, id string, fn func(*Incident)) (Incident, error) {
	var inc Incident
	err := m.modify(ctx, id, func(i *Incident) { fn(i); inc = *i })
	return inc, err
}
