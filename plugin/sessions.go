package plugin

import (
	"os"

	"github.com/docker-build2/docker-build2/secrets"
	"github.com/docker-build2/docker-build2/sshforward"
)

// setSessions validates --secret and --ssh before the build starts and adds
// their providers to the session.
func (r *request) setSessions() error {
	if len(r.raw.secrets) > 0 {
		specs, err := secrets.ParseSpecs(r.raw.secrets, os.LookupEnv)
		if err != nil {
			return usageErr("%v", err)
		}
		r.opts.Session = append(r.opts.Session, specs.Attachable(os.LookupEnv))
	}
	if len(r.raw.ssh) > 0 {
		specs, err := sshforward.ParseSpecs(r.raw.ssh, os.LookupEnv)
		if err != nil {
			return usageErr("%v", err)
		}
		a, err := specs.Attachable()
		if err != nil {
			return usageErr("%v", err)
		}
		r.opts.Session = append(r.opts.Session, a)
	}
	return nil
}
