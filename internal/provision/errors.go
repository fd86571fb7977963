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
)

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
