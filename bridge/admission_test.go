package bridge_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/internal/irctest"
)

// logins counts the successful password logins Directus recorded for a user.
func logins(t *testing.T, s *stack, id string) int {
	t.Helper()
	var rows []struct{ ID int }
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/activity?filter[action][_eq]=login&filter[user][_eq]="+id+"&fields=id&limit=-1", nil), &rows)
	return len(rows)
}

// logouts counts the logouts Directus recorded for a user.
func logouts(t *testing.T, s *stack, id string) int {
	t.Helper()
	var rows []struct{ ID int }
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/activity?filter[action][_eq]=logout&filter[user][_eq]="+id+"&fields=id&limit=-1", nil), &rows)
	return len(rows)
}

func status(t *testing.T, s *stack, email string) string {
	t.Helper()
	var users []struct{ Status string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/users?filter[email][_eq]="+email+"&fields=status", nil), &users)
	if len(users) != 1 {
		t.Fatalf("user %s not found", email)
	}
	return users[0].Status
}

// saslAttempt tries a SASL PLAIN login from the local address and returns the 903/904 text.
func saslAttempt(t *testing.T, s *stack, from, login, password string) (ok bool, reply string) {
	t.Helper()
	return irctest.TrySASL(t, from, s.d.addr, login, password)
}

// One account on several connections is one Directus login: alice's phone (SASL) and laptop
// (PASS) make one login, a third connection none; when all are gone, the session is logged
// out once.
func TestOneDirectusLoginPerAccount(t *testing.T) {
	s := newStack(t, nil, nil)
	alice := userID(t, s, "alice@example.com")
	before := logins(t, s, alice)
	phone := login(t, s, "a", "alice@example.com", "alicepass")
	laptop := irctest.Dial(t, s.d.addr)
	laptop.RegisterPass("a", "alice:alicepass")
	laptop.Join(channel)
	if n := logins(t, s, alice) - before; n != 1 {
		t.Fatalf("two connections made %d Directus logins, want 1", n)
	}
	third := login(t, s, "a", "alice", "alicepass")
	if n := logins(t, s, alice) - before; n != 1 {
		t.Fatalf("a third connection made a login (%d in all)", n)
	}
	// A wrong password is not let in by the live session.
	if ok, reply := saslAttempt(t, s, "127.0.0.1", "alice", "wrong"); ok {
		t.Fatalf("wrong password accepted: %s", reply)
	}
	phone.Send("PRIVMSG", channel, "from the phone")
	expectPrivmsg(t, third, "Alice", "from the phone")
	for _, c := range []*irctest.Client{phone, laptop, third} {
		c.Send("QUIT")
		c.Closed()
	}
	waitFor(t, "one logout", func() bool { return logouts(t, s, alice) >= 1 })
	if n := logouts(t, s, alice); n != 1 {
		t.Fatalf("%d logouts, want 1", n)
	}
}

// 40 connections of one account logging in at once (a client with 40 windows, a bouncer
// reconnecting) all get in with one Directus login, and the account stays active.
func TestConcurrentLoginsOfOneAccountShareOneLogin(t *testing.T) {
	s := newStack(t, nil, nil)
	carol := userID(t, s, "carol@example.com")
	before := logins(t, s, carol)
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, reply := saslAttempt(t, s, "127.0.0.1", "carol", "carolpass"); !ok {
				errs <- reply
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("refused: %s", e)
	}
	if n := logins(t, s, carol) - before; n != 1 {
		t.Errorf("40 concurrent logins made %d Directus logins, want 1", n)
	}
	if st := status(t, s, "carol@example.com"); st != "active" {
		t.Fatalf("carol is %s", st)
	}
}

// An ordinary user with a script cannot get another account suspended through the bridge,
// nor keep its owner out: 40 parallel and 40 sequential wrong passwords from four addresses
// reach Directus at most the budget's number of times, the account stays active, and the
// owner logs in from a fresh address. (Each guess differs: identical wrong passwords in
// flight together share one Directus answer.)
func TestWrongPasswordAttackNeitherSuspendsNorLocksOut(t *testing.T) {
	s := newStack(t, nil, nil)
	reached, throttled := 0, 0
	for _, reply := range irctest.SprayPasswords(t, s.d.addr, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}, "carol", 40, 40) {
		switch {
		case strings.Contains(reply, "Invalid email or password"):
			reached++
		case strings.Contains(reply, "Too many failed logins"):
			throttled++
		default:
			t.Errorf("unexpected reply %q", reply)
		}
	}
	t.Logf("FIGURES wrong-password attack: 80 attempts, %d reached Directus, %d throttled", reached, throttled)
	if reached > 15 {
		t.Errorf("%d failed logins reached Directus, budget 10 + 5", reached)
	}
	if st := status(t, s, "carol@example.com"); st != "active" {
		t.Fatalf("carol is %s after the attack", st)
	}
	if ok, reply := saslAttempt(t, s, "127.0.0.50", "carol", "carolpass"); !ok {
		t.Fatalf("the owner from a fresh address is kept out: %s", reply)
	}
}

// A SASL authorization identity asks to act as another account, which Directus cannot grant.
func TestSASLAuthzidOfAnotherAccountIsRefused(t *testing.T) {
	s := newStack(t, nil, nil)
	c := irctest.Dial(t, s.d.addr)
	c.Send("CAP", "REQ", "sasl")
	c.Send("AUTHENTICATE", "PLAIN")
	c.Expect("AUTHENTICATE")
	c.Send("AUTHENTICATE", base64.StdEncoding.EncodeToString([]byte("bob@example.com\x00carol\x00carolpass")))
	if m := c.Expect("904"); !strings.Contains(text(m), "authorization identity") {
		t.Fatalf("904 = %q", text(m))
	}
	c.Send("AUTHENTICATE", "PLAIN")
	c.Expect("AUTHENTICATE")
	c.Send("AUTHENTICATE", base64.StdEncoding.EncodeToString([]byte("carol\x00carol\x00carolpass")))
	c.Expect("903")
}

// A reconnect wave (every client of a restarted daemon at once) gets in at Directus's pace:
// 200 different users logging in concurrently all succeed, none times out, and waiting
// clients are told they are queued.
func TestReconnectWaveOf200LoginsGetsIn(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 200 users")
	}
	irctest.Timeout = 5 * time.Minute
	defer func() { irctest.Timeout = 20 * time.Second }()
	s := newStack(t, nil, nil)
	var alice []struct{ Role string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/users?filter[email][_eq]=alice@example.com&fields=role", nil), &alice)
	const n = 200
	users := make([]map[string]any, n)
	for i := range users {
		users[i] = map[string]any{"email": fmt.Sprintf("wave%03d@example.com", i), "password": fmt.Sprintf("pw-%03d", i),
			"first_name": fmt.Sprintf("Wave%03d", i), "role": alice[0].Role, "status": "active"}
	}
	for i := 0; i < n; i += 20 { // Directus hashes each password: a few at a time
		adminDo(t, s, http.MethodPost, "/users", users[i:i+20])
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed, queued := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := irctest.Dial(t, s.d.addr)
			defer c.Close()
			c.Send("PASS", fmt.Sprintf("wave%03d:pw-%03d", i, i))
			c.Send("NICK", "w")
			c.Send("USER", "u", "0", "*", "x")
			m := c.ExpectFunc("001 or 464", func(m ircmsg.Message) bool {
				if m.Command == "NOTICE" && strings.Contains(text(m), "queued") {
					mu.Lock()
					queued++
					mu.Unlock()
				}
				return m.Command == "001" || m.Command == "464"
			})
			if m.Command != "001" {
				mu.Lock()
				failed++
				mu.Unlock()
				t.Errorf("wave%03d refused: %s", i, text(m))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("FIGURES login wave: %d concurrent logins of different users, %d in, %d told they were queued, %s (%.1f logins/s)",
		n, n-failed, queued, took.Round(time.Millisecond), float64(n)/took.Seconds())
}
