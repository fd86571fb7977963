package directus

import "context"

// CheckWebSocket opens a WebSocket to Directus's endpoint and closes it again
// without authenticating: it proves the endpoint exists. A Directus without
// WEBSOCKETS_ENABLED=true answers 404, returned as an *Error that matches
// ErrNotFound and names the setting.
func (c *Client) CheckWebSocket(ctx context.Context) error {
	ws, err := c.dialWebSocket(ctx)
	if err != nil {
		return err
	}
	return ws.Close()
}
