package directus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const maxResponseSize = 64 << 20

// User is the subset of a directus_users row the bridge needs.
type User struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	Status    string `json:"status"`
}

const userFields = "id,email,first_name,status"

// Do sends a JSON REST request and decodes the response's "data" member into
// out (when out is non-nil and the response has a body; 204 leaves out as is). path starts with "/" and may carry a query
// string; it must not carry secrets. token may be empty (public access).
// Failures are *Error.
func (c *Client) Do(ctx context.Context, token, method, path string, body, out any) error {
	op := method + " " + stripQuery(path)
	raw, err := c.roundTrip(ctx, op, token, method, path, body)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return protocolError(op, "decode response: %v", err)
	}
	if len(env.Data) == 0 {
		return protocolError(op, "response has no data")
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return protocolError(op, "decode data: %v", err)
	}
	return nil
}

// Ping checks GET /server/ping (the readiness probe; /server/health is
// admin-only in Directus 12).
func (c *Client) Ping(ctx context.Context) error {
	raw, err := c.roundTrip(ctx, "GET /server/ping", "", http.MethodGet, "/server/ping", nil)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(raw)) != "pong" {
		return protocolError("GET /server/ping", "unexpected answer (is this Directus?)")
	}
	return nil
}

// Me returns the user the token belongs to.
func (c *Client) Me(ctx context.Context, token string) (User, error) {
	var u User
	err := c.Do(ctx, token, http.MethodGet, "/users/me?fields="+userFields, nil, &u)
	return u, err
}

// Users looks up users by id, in batches. Unknown or unreadable ids are
// absent from the result.
func (c *Client) Users(ctx context.Context, token string, ids []string) ([]User, error) {
	const batch = 100
	var all []User
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		q := Query{Fields: strings.Split(userFields, ","), Limit: new(-1),
			Filter: map[string]any{"id": map[string]any{"_in": chunk}}}
		v, err := q.values()
		if err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		var users []User
		if err := c.Do(ctx, token, http.MethodGet, "/users?"+v.Encode(), nil, &users); err != nil {
			return nil, err
		}
		all = append(all, users...)
	}
	return all, nil
}

// CreateItem creates one item (data is an object) or several (an array) over
// REST and returns the created data, read back with fields (nil: Directus's
// default, all fields).
func (c *Client) CreateItem(ctx context.Context, token, collection string, data any, fields []string) (json.RawMessage, error) {
	path := itemsPath(collection)
	if len(fields) > 0 {
		path += "?" + url.Values{"fields": {strings.Join(fields, ",")}}.Encode()
	}
	var out json.RawMessage
	err := c.Do(ctx, token, http.MethodPost, path, data, &out)
	return out, err
}

// ReadItems reads items of a collection over REST.
func (c *Client) ReadItems(ctx context.Context, token, collection string, q Query) ([]json.RawMessage, error) {
	v, err := q.values()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", collection, err)
	}
	path := itemsPath(collection)
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []json.RawMessage
	err = c.Do(ctx, token, http.MethodGet, path, nil, &out)
	return out, err
}

func itemsPath(collection string) string { return "/items/" + url.PathEscape(collection) }

func (c *Client) roundTrip(ctx context.Context, op, token, method, path string, body any) ([]byte, error) {
	req, err := c.newRequest(ctx, method, path, token, body)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text holds the URL
		}
		return nil, unreachable(op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	if err != nil {
		return nil, unreachable(op, fmt.Errorf("read response: %w", err))
	}
	if resp.StatusCode/100 != 2 {
		return nil, restError(op, resp.StatusCode, raw)
	}
	return raw, nil
}

func (c *Client) newRequest(ctx context.Context, method, path, token string, body any) (*http.Request, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q must start with /", path)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

// withTimeout applies RequestTimeout when ctx has no deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// restError decodes {"errors":[{"message","extensions":{"code"}}]}.
func restError(op string, status int, raw []byte) *Error {
	var env struct {
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	se := serverError{Message: http.StatusText(status)}
	if json.Unmarshal(raw, &env) == nil && len(env.Errors) > 0 {
		se = serverError{Code: env.Errors[0].Extensions.Code, Message: env.Errors[0].Message}
	}
	return newServerError(op, status, se)
}

func stripQuery(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return path[:i]
	}
	return path
}
