package provision

import (
	"errors"
	"fmt"
	"strings"

	"github.com/directus-ircd/directus-ircd/directus"
)

// Errors a caller (the setup command) can branch on with errors.Is. Each
// returned error's text says what to do.
var (
	ErrAdminAuth          = errors.New("admin authentication failed")
	ErrUnreachable        = errors.New("Directus unreachable")
	ErrUnsupportedVersion = errors.New("unsupported Directus version")
	ErrIncompatibleSchema = errors.New("incompatible existing schema")
	// ErrWebSocketsDisabled: Directus has no WebSocket endpoint; the daemon
	// cannot subscribe.
	ErrWebSocketsDisabled = errors.New("Directus WebSockets disabled")
	// ErrNameTaken: a role or policy of the name setup would create exists and
	// setup did not make it; setup reuses one only when named by flag.
	ErrNameTaken = errors.New("name taken")
	// ErrBridgeToken: the bridge user's existing token was not given (setup
	// cannot read it back, and replacing it would break running daemons), or
	// the given one belongs to another user.
	ErrBridgeToken = errors.New("bridge token")
)

// NameTakenError: an existing role or policy has the name setup would give
// its own, and the admin did not name it by flag.
type NameTakenError struct {
	Kind, Name, Flag string // "role" or "policy"; Flag is empty when there is none
}

func (e *NameTakenError) Error() string {
	fix := "rename the existing one in Directus"
	if e.Flag != "" {
		fix = fmt.Sprintf("to use it anyway, name it explicitly (%s %q); otherwise choose another name with %s NAME", e.Flag, e.Name, e.Flag)
	}
	return fmt.Sprintf("%v: a %s named %q exists that directus-ircd setup did not create, and setup never takes over "+
		"an existing %s silently: %s", ErrNameTaken, e.Kind, e.Name, e.Kind, fix)
}

func (e *NameTakenError) Is(target error) bool { return target == ErrNameTaken }

// VersionError: the Directus major version is not 11 or 12.
type VersionError struct{ Found string }

func (e *VersionError) Error() string {
	found := e.Found
	if found == "" {
		found = "no version in /server/info (older than 10?)"
	}
	return fmt.Sprintf("%v: found Directus %s; directus-ircd supports Directus 11 and 12 "+
		"(the roles, access and policies permission model): upgrade Directus", ErrUnsupportedVersion, found)
}

func (e *VersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// SchemaError: an existing collection cannot be used as it is. Setup never
// changes existing fields or rows, so a human has to decide.
type SchemaError struct {
	Collection string
	Problems   []string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%v: collection %q exists but cannot be used: %s. Setup never changes existing fields or data: "+
		"fix the collection in Directus (Settings → Data Model) or choose another collection name",
		ErrIncompatibleSchema, e.Collection, strings.Join(e.Problems, "; "))
}

func (e *SchemaError) Is(target error) bool { return target == ErrIncompatibleSchema }

// redact removes secret from a Directus error message (Directus echoes
// duplicate values in RECORD_NOT_UNIQUE messages).
func redact(err error, secret string) error {
	var de *directus.Error
	if secret == "" || !errors.As(err, &de) || !strings.Contains(de.Message, secret) {
		return err
	}
	clean := *de
	clean.Message = strings.ReplaceAll(de.Message, secret, "[redacted]")
	return &clean
}
