package dtest

import "testing"

// A misspelt DTEST_DB is an error, never a silent run on SQLite.
func TestDBKind(t *testing.T) {
	tests := []struct{ env, want, err string }{
		{"", SQLite, ""},
		{"sqlite", SQLite, ""},
		{"postgres", Postgres, ""},
		{"postgresql", "", `DTEST_DB="postgresql": want "sqlite" or "postgres"`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(EnvDB, tt.env)
			got, err := dbKind()
			if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
				t.Fatalf("dbKind() = %q, %v; want %q, %q", got, err, tt.want, tt.err)
			}
		})
	}
}
