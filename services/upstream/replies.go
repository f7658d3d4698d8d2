package upstream

import (
	"strings"

	"github.com/intake/intake/pkg/client"
)

// replyAllowed reports whether a request of tenant may be answered on reply:
// only on the tenant's own inbox (client.InboxPrefix) or on a response
// subject that nats-server made for a service import (_R_.<...>, which the
// server routes back to the requesting account and nothing else can
// capture). A request with no reply is a publish and needs no answer.
func replyAllowed(tenant, reply string) bool {
	if reply == "" {
		return true
	}
	if strings.ContainsAny(reply, "*> \t\r\n") {
		return false
	}
	for _, prefix := range []string{client.InboxPrefix(tenant) + ".", serviceReplyPrefix} {
		if rest, ok := strings.CutPrefix(reply, prefix); ok && rest != "" && !strings.HasPrefix(rest, ".") && !strings.HasSuffix(rest, ".") && !strings.Contains(rest, "..") {
			return true
		}
	}
	return false
}

// serviceReplyPrefix starts the reply subjects nats-server gives requests
// that cross accounts through a service import (deploy/nats/accounts.conf).
const serviceReplyPrefix = "_R_."
