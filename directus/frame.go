package directus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// inFrame is a decoded server frame. The refresh_token of auth replies is
// deliberately not decoded: this client authenticates sockets with access
// tokens and renews over REST.
type inFrame struct {
	Type   string          `json:"type"`
	Status string          `json:"status"`
	Event  string          `json:"event"`
	UID    json.RawMessage `json:"uid"`
	Data   json.RawMessage `json:"data"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`

	uid string // UID normalised: strings as is, numbers as their literal
}

func (f inFrame) failed() bool { return f.Status == "error" }

func (f inFrame) serverError() serverError {
	if f.Error == nil {
		return serverError{Code: "UNKNOWN", Message: "error frame without details"}
	}
	return serverError{Code: f.Error.Code, Message: f.Error.Message}
}

// decodeFrame parses one server frame.
func decodeFrame(b []byte) (inFrame, error) {
	var f inFrame
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("decode frame: %w", err)
	}
	if f.Type == "" {
		return f, errors.New("decode frame: no type")
	}
	if len(f.UID) > 0 && !bytes.Equal(f.UID, []byte("null")) {
		uid, err := NormaliseID(f.UID)
		if err != nil {
			return f, fmt.Errorf("decode frame: uid: %w", err)
		}
		f.uid = uid
	}
	return f, nil
}

// outFrame is a client frame.
type outFrame struct {
	Type        string   `json:"type"`
	UID         string   `json:"uid,omitempty"`
	Collection  string   `json:"collection,omitempty"`
	Action      string   `json:"action,omitempty"`
	Data        any      `json:"data,omitempty"`
	IDs         []string `json:"ids,omitempty"`
	Query       *Query   `json:"query,omitempty"`
	AccessToken string   `json:"access_token,omitempty"`
}

// EventKind is the kind of a subscription event.
type EventKind string

const (
	EventInit   EventKind = "init"   // the subscription's initial result (its query applied)
	EventCreate EventKind = "create" // one created item per event
	EventUpdate EventKind = "update" // all items of one update
	EventDelete EventKind = "delete" // ids only
)

// Event is one subscription event. Items holds the items of init, create and
// update events (read with the subscription's query and the subscriber's
// permissions); IDs holds the ids of a delete, normalised to strings.
type Event struct {
	Kind  EventKind
	Items []json.RawMessage
	IDs   []string
}

func decodeEvent(f inFrame) (Event, error) {
	e := Event{Kind: EventKind(f.Event)}
	switch e.Kind {
	case EventInit, EventCreate, EventUpdate, EventDelete:
	default:
		return e, fmt.Errorf("unknown subscription event %q", f.Event)
	}
	vals, err := asArray(f.Data)
	if err != nil {
		return e, fmt.Errorf("%s event: %w", f.Event, err)
	}
	if e.Kind != EventDelete {
		e.Items = vals
		return e, nil
	}
	e.IDs = make([]string, 0, len(vals))
	for _, v := range vals {
		id, err := NormaliseID(v)
		if err != nil {
			return e, fmt.Errorf("delete event: %w", err)
		}
		e.IDs = append(e.IDs, id)
	}
	return e, nil
}

// asArray returns the elements of a JSON array; a single value becomes one
// element and an absent value or null none.
func asArray(raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '[' {
		return []json.RawMessage{raw}, nil
	}
	var vals []json.RawMessage
	if err := json.Unmarshal(raw, &vals); err != nil {
		return nil, err
	}
	return vals, nil
}

// NormaliseID turns a JSON string or number into a string: Directus echoes
// ids and uids typed as the sender sent them.
func NormaliseID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("empty id")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("id is neither a string nor a number: %.40s", raw)
	}
	if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return strconv.FormatInt(i, 10), nil
	}
	return n.String(), nil
}

// ItemID returns the "id" of an item, normalised to a string.
func ItemID(raw json.RawMessage) (string, error) {
	var item struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(raw, &item); err != nil {
		return "", fmt.Errorf("item id: %w", err)
	}
	if len(item.ID) == 0 || bytes.Equal(item.ID, []byte("null")) {
		return "", errors.New("item id: item has no id")
	}
	id, err := NormaliseID(item.ID)
	if err != nil {
		return "", fmt.Errorf("item id: %w", err)
	}
	return id, nil
}
