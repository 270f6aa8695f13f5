package plugin

// setSessions validates --secret and --ssh before the build starts and adds
// their providers to the session.
func (r *request) setSessions() error {
	if len(r.raw.secrets) > 0 || len(r.raw.ssh) > 0 {
		return usageErr("--secret and --ssh are not available yet")
	}
	return nil
}
