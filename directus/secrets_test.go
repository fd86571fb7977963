package directus_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/provision"
)

// testNoSecrets: with trace logging, no password or token shows up in a log
// line, an error text or a formatted value.
func testNoSecrets(t *testing.T, in *dtest.Instance, res provision.Result) {
	c, logs := newClient(t, in, nil)
	ctx := testContext(t, time.Minute)
	secrets := []string{dtest.AlicePassword, dtest.BobPassword, res.BridgeToken, "wrong-secret-password"}
	var texts []string

	tok, err := c.Login(ctx, dtest.CarolEmail, dtest.CarolPassword)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, dtest.CarolPassword, tok.Access, tok.Refresh)
	texts = append(texts, fmt.Sprint(tok), fmt.Sprintf("%#v %+v", tok, tok))

	for _, cred := range []directus.Credentials{alice, bob, {StaticToken: res.BridgeToken}, {RefreshToken: tok.Refresh}} {
		k := dial(t, c, cred)
		texts = append(texts, fmt.Sprint(cred), fmt.Sprintf("%#v %+v", cred, cred))
		sub, err := k.Subscribe(ctx, "messages", directus.Query{Limit: new(0)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Create(ctx, "messages", map[string]any{"text": "secret test"}, nil); err != nil {
			t.Fatal(err)
		}
		nextEvent(t, sub)
		if rt := k.RefreshToken(); rt != "" {
			secrets = append(secrets, rt)
		}
		k.Close()
	}
	_, err = c.Dial(ctx, directus.Credentials{Email: dtest.AliceEmail, Password: "wrong-secret-password"})
	texts = append(texts, err.Error())
	_, err = c.Dial(ctx, directus.Credentials{StaticToken: "wrong-secret-password"})
	texts = append(texts, err.Error())
	_, err = c.Refresh(ctx, tok.Refresh) // spent
	texts = append(texts, err.Error())

	all := logs.String() + strings.Join(texts, "\n")
	if !strings.Contains(all, "directus frame received") {
		t.Fatal("trace logging did not happen")
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret %.6s… found in logs or errors", s)
		}
	}
	t.Logf("checked %d secrets against %d bytes of logs and %d error/format texts", len(secrets), len(all), len(texts))
}
