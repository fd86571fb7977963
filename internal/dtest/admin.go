package dtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// AdminToken logs in over REST as the admin and returns an access token,
// cached until shortly before it expires.
func (i *Instance) AdminToken(t testing.TB) string {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.token != "" && time.Until(i.tokenExp) > 5*time.Second {
		return i.token
	}
	token, exp, err := login(i.URL, i.AdminEmail, i.AdminPassword)
	if err != nil {
		t.Fatalf("dtest: admin login: %v", err)
	}
	i.token, i.tokenExp = token, exp
	return token
}

func login(url, email, password string) (string, time.Time, error) {
	start := time.Now()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password, "mode": "json"})
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post(url+"/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", time.Time{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			AccessToken string `json:"access_token"`
			Expires     int64  `json:"expires"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("POST /auth/login: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", time.Time{}, err
	}
	return out.Data.AccessToken, start.Add(time.Duration(out.Data.Expires) * time.Millisecond), nil
}
