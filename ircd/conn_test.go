package ircd

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// recordingWriter records each Write it gets and fails the one numbered failAt (1-based).
type recordingWriter struct {
	writes [][]byte
	failAt int
}

var errWriteFailed = errors.New("write failed")

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(b))
	if len(w.writes) == w.failAt {
		return 0, errWriteFailed
	}
	return len(b), nil
}

func TestWriteLines(t *testing.T) {
	line := func(n int, fill byte) []byte {
		return append(bytes.Repeat([]byte{fill}, n-2), '\r', '\n')
	}
	big := line(maxLineLen+maxTagsLen, 'b') // the longest line a client can be sent
	tests := []struct {
		name       string
		batch      [][]byte
		failAt     int
		wantWrites int
		wantErr    error
	}{
		{"one line is written as it is", [][]byte{line(40, 'a')}, 0, 1, nil},
		{"several lines go in one write", [][]byte{line(40, 'a'), line(60, 'c'), line(512, 'd')}, 0, 1, nil},
		{"a batch over the buffer is split between lines", [][]byte{big, big, big}, 0, 3, nil},
		{"many short lines fill each write", slices.Repeat([][]byte{line(100, 'e')}, 400), 0, 3, nil},
		{"an error stops the batch", [][]byte{big, big, big}, 2, 2, errWriteFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &recordingWriter{failAt: tt.failAt}
			err := writeLines(w, tt.batch)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if len(w.writes) != tt.wantWrites {
				t.Fatalf("%d writes, want %d", len(w.writes), tt.wantWrites)
			}
			for i, b := range w.writes {
				if len(b) > writeBufSize && len(tt.batch) > 1 {
					t.Errorf("write %d is %d bytes, over %d", i, len(b), writeBufSize)
				}
				if !bytes.HasSuffix(b, []byte("\r\n")) {
					t.Errorf("write %d splits a line", i)
				}
			}
			if tt.wantErr == nil {
				if got, want := string(bytes.Join(w.writes, nil)), string(bytes.Join(tt.batch, nil)); got != want {
					t.Errorf("wrote %d bytes %q…, want %d bytes %q…", len(got), got[:min(len(got), 20)], len(want), want[:min(len(want), 20)])
				}
			}
		})
	}
}
