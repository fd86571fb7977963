package directus

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error returned by this package that comes from Directus
// or from the network is an *Error; errors.Is(err, ErrX) classifies it.
var (
	// ErrInvalidCredentials: wrong email or password, an unknown, revoked or
	// rotated-away token (REST 401, WS AUTH_FAILED).
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrInvalidOTP: a password login of an account with two-factor authentication
	// (INVALID_OTP). It is also an ErrInvalidCredentials.
	ErrInvalidOTP = errors.New("one-time password required")
	// ErrTokenExpired: the access token expired (TOKEN_EXPIRED).
	ErrTokenExpired = errors.New("token expired")
	// ErrForbidden: no permission. Directus also answers this for collections,
	// fields and items that do not exist.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: an unknown route or endpoint (HTTP 404, ROUTE_NOT_FOUND).
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: a unique field already holds the value (RECORD_NOT_UNIQUE),
	// e.g. a create retried with the same idempotency key.
	ErrDuplicate = errors.New("duplicate value")
	// ErrInvalidRequest: Directus rejected the request as malformed
	// (INVALID_PAYLOAD, INVALID_QUERY, INVALID_COLLECTION, ...).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrUnreachable: no connection to Directus (refused, DNS, TLS, timeout,
	// heartbeat timeout), or Directus cannot serve now (HTTP 502, 503 (its
	// pressure limiter: "Under pressure"), 504). Transient: retry later.
	ErrUnreachable = errors.New("unreachable")
	// ErrProtocol: Directus answered something this client cannot understand.
	ErrProtocol = errors.New("protocol error")
	// ErrDisconnected: the WebSocket connection dropped or was closed while
	// the operation was pending. The request may or may not have been executed.
	ErrDisconnected = errors.New("disconnected")
	// ErrSlowConsumer: a subscription was ended because its event buffer was
	// full (the consumer stalled).
	ErrSlowConsumer = errors.New("subscription consumer too slow")
)

// Error is a failed Directus operation. Its text never contains credentials:
// Op is a method and path without query, Message is the server's message.
type Error struct {
	Op      string // what was being done: "POST /auth/login", "ws items create messages", ...
	Code    string // Directus error code (extensions.code / error.code), if any
	Message string // Directus's message, if any
	Status  int    // HTTP status, if any
	Err     error  // underlying cause (a sentinel, a network error, ...)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("directus: ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is maps Directus codes and HTTP statuses to the sentinel errors.
func (e *Error) Is(target error) bool {
	if target == ErrInvalidOTP {
		return e.Code == "INVALID_OTP"
	}
	if s := e.sentinel(); s != nil {
		return s == target
	}
	return false
}

func (e *Error) sentinel() error {
	switch e.Code {
	case "INVALID_CREDENTIALS", "AUTH_FAILED", "INVALID_TOKEN", "INVALID_OTP", "USER_SUSPENDED":
		return ErrInvalidCredentials
	case "TOKEN_EXPIRED":
		return ErrTokenExpired
	case "FORBIDDEN":
		return ErrForbidden
	case "ROUTE_NOT_FOUND":
		return ErrNotFound
	case "SERVICE_UNAVAILABLE":
		return ErrUnreachable
	case "RECORD_NOT_UNIQUE":
		return ErrDuplicate
	case "INVALID_PAYLOAD", "INVALID_QUERY", "INVALID_COLLECTION", "INVALID_FOREIGN_KEY",
		"FAILED_VALIDATION", "VALUE_TOO_LONG", "CONTAINS_NULL_VALUES", "NOT_NULL_VIOLATION",
		"VALUE_OUT_OF_RANGE", "UNSUPPORTED_MEDIA_TYPE":
		return ErrInvalidRequest
	}
	switch e.Status {
	case 401:
		return ErrInvalidCredentials
	case 403:
		return ErrForbidden
	case 404:
		return ErrNotFound
	case 400, 413, 415, 422:
		return ErrInvalidRequest
	case 502, 503, 504:
		return ErrUnreachable
	}
	return nil
}

// serverError is the error object of a WS frame and one entry of a REST
// "errors" array.
type serverError struct {
	Code    string
	Message string
}

func newServerError(op string, status int, se serverError) *Error {
	return &Error{Op: op, Status: status, Code: se.Code, Message: se.Message}
}

func unreachable(op string, cause error) *Error {
	return &Error{Op: op, Err: fmt.Errorf("%w: %w", ErrUnreachable, cause)}
}

func protocolError(op, format string, args ...any) *Error {
	return &Error{Op: op, Err: fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))}
}
