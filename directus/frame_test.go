package directus

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		in      string
		typ     string
		uid     string
		failed  bool
		wantErr bool
	}{
		{`{"type":"auth","status":"ok","uid":"auth-1","refresh_token":"abc"}`, "auth", "auth-1", false, false},
		{`{"type":"auth","status":"ok","uid":7}`, "auth", "7", false, false},
		{`{"type":"subscription","event":"init","data":[],"uid":"42"}`, "subscription", "42", false, false},
		{`{"type":"auth","status":"error","error":{"code":"TOKEN_EXPIRED","message":"Token expired."}}`, "auth", "", true, false},
		{`{"type":"ping"}`, "ping", "", false, false},
		{`{"type":"items","data":2,"uid":null}`, "items", "", false, false},
		{`{"uid":"no-type"}`, "", "", false, true},
		{`[1,2]`, "", "", false, true},
		{`hello`, "", "", false, true},
		{`{"type":"items","uid":{"x":1}}`, "", "", false, true},
	}
	for _, tt := range tests {
		f, err := decodeFrame([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v", tt.in, err)
			continue
		}
		if err == nil && (f.Type != tt.typ || f.uid != tt.uid || f.failed() != tt.failed) {
			t.Errorf("%s: got type %q uid %q failed %v", tt.in, f.Type, f.uid, f.failed())
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		in    string
		kind  EventKind
		items int
		ids   []string
	}{
		{`{"type":"subscription","event":"init","data":[{"id":1},{"id":4}],"uid":"c"}`, EventInit, 2, nil},
		{`{"type":"subscription","event":"init","uid":"onlycreate"}`, EventInit, 0, nil},
		{`{"type":"subscription","event":"create","data":[{"id":1,"user_created":{"first_name":"Alice"}}],"uid":"c"}`, EventCreate, 1, nil},
		{`{"type":"subscription","event":"update","data":[{"id":1},{"id":4}],"uid":"c"}`, EventUpdate, 2, nil},
		{`{"type":"subscription","event":"delete","data":["652",653],"uid":"c"}`, EventDelete, 0, []string{"652", "653"}},
		{`{"type":"subscription","event":"delete","data":2,"uid":"c"}`, EventDelete, 0, []string{"2"}},
	}
	for _, tt := range tests {
		f, err := decodeFrame([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		e, err := decodeEvent(f)
		if err != nil || e.Kind != tt.kind || len(e.Items) != tt.items || !slices.Equal(e.IDs, tt.ids) {
			t.Errorf("%s: %+v %v", tt.in, e, err)
		}
	}
	for _, bad := range []string{`{"type":"subscription","event":"bogus"}`, `{"type":"subscription","event":"delete","data":[{"id":1}]}`} {
		f, _ := decodeFrame([]byte(bad))
		if _, err := decodeEvent(f); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestItemID(t *testing.T) {
	for in, want := range map[string]string{`{"id":17}`: "17", `{"id":"17"}`: "17", `{"id":"a-uuid"}`: "a-uuid", `{"id":1.0e2}`: "1.0e2"} {
		if got, err := ItemID(json.RawMessage(in)); err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{`{}`, `{"id":null}`, `{"id":true}`, `[1]`, `x`} {
		if _, err := ItemID(json.RawMessage(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestUIDlessErrorRouting: Directus drops the uid from some error frames;
// they go to the oldest pending request of the same type.
func TestUIDlessErrorRouting(t *testing.T) {
	k := &Conn{c: &Client{}, pending: map[string]*pending{}, subs: map[string]*Subscription{}, done: make(chan struct{})}
	mk := func(uid, typ string, seq uint64) *pending {
		p := &pending{typ: typ, seq: seq, reply: make(chan inFrame, 1)}
		k.pending[uid] = p
		return p
	}
	items, sub1, sub2 := mk("r1", "items", 1), mk("s2", "subscribe", 2), mk("s3", "subscribe", 3)
	f, _ := decodeFrame([]byte(`{"type":"subscribe","status":"error","error":{"code":"INVALID_PAYLOAD","message":"Validation error"}}`))
	k.dispatch(f)
	select {
	case got := <-sub1.reply:
		if got.serverError().Code != "INVALID_PAYLOAD" {
			t.Fatalf("got %+v", got)
		}
	default:
		t.Fatal("oldest subscribe request got nothing")
	}
	if len(items.reply) != 0 || len(sub2.reply) != 0 {
		t.Fatal("error went to the wrong request")
	}
	// A server-level error (rate limit) is not pinned on any request.
	f, _ = decodeFrame([]byte(`{"type":"server","status":"error","error":{"code":"REQUESTS_EXCEEDED","message":"Too many messages"}}`))
	k.dispatch(f)
	if len(items.reply) != 0 || len(sub2.reply) != 0 {
		t.Fatal("server error was routed to a request")
	}
}

func TestErrorIs(t *testing.T) {
	tests := []struct {
		e    *Error
		want error
	}{
		{&Error{Code: "INVALID_CREDENTIALS", Status: 401}, ErrInvalidCredentials},
		{&Error{Code: "AUTH_FAILED"}, ErrInvalidCredentials},
		{&Error{Code: "TOKEN_EXPIRED"}, ErrTokenExpired},
		{&Error{Code: "FORBIDDEN"}, ErrForbidden},
		{&Error{Status: 404}, ErrNotFound},
		{&Error{Code: "RECORD_NOT_UNIQUE", Status: 400}, ErrDuplicate},
		{&Error{Code: "INVALID_QUERY"}, ErrInvalidRequest},
		{unreachable("x", errors.New("refused")), ErrUnreachable},
		{&Error{Code: "SERVICE_UNAVAILABLE", Status: 503}, ErrUnreachable},
		{protocolError("x", "bad"), ErrProtocol},
	}
	for _, tt := range tests {
		if !errors.Is(tt.e, tt.want) {
			t.Errorf("%v is not %v", tt.e, tt.want)
		}
	}
	if errors.Is(&Error{Code: "FORBIDDEN"}, ErrInvalidCredentials) {
		t.Error("FORBIDDEN matched ErrInvalidCredentials")
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"type":"subscription","event":"create","data":[{"id":1}],"uid":"chan"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		if fr.Type == "" {
			t.Fatal("decoded a frame without type")
		}
		if fr.uid != "" { // normalisation is idempotent
			q, _ := json.Marshal(fr.uid)
			if again, err := NormaliseID(q); err != nil || again != fr.uid {
				t.Fatalf("uid %q renormalised to %q (%v)", fr.uid, again, err)
			}
		}
		_ = fr.failed()
		_ = fr.serverError()
		if fr.Type == "subscription" {
			if e, err := decodeEvent(fr); err == nil {
				for _, it := range e.Items {
					_, _ = ItemID(it)
				}
			}
		}
	})
}

func BenchmarkDecodeCreateEvent(b *testing.B) {
	frame := []byte(`{"type":"subscription","event":"create","data":[{"id":123456,"text":"hello there, a typical chat line","date_created":"2026-11-28T13:00:21.066Z","irc_nick":null,"irc_key":"0123456789abcdef0123456789abcdef","user_created":{"id":"04a5d8a4-4e5e-4c58-8e19-71fa549a24c2","first_name":"Alice","email":"alice@example.com"}}],"uid":"chan"}`)
	b.ReportAllocs()
	for b.Loop() {
		f, err := decodeFrame(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeEvent(f); err != nil {
			b.Fatal(err)
		}
	}
}
