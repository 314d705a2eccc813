package watchdog

import (
	"crypto/sha256"
	"io"
	"os"
	"time"
)

// binaryWatch tells when a file's content changed since it was first
// seen: size and modification time are compared each time, the content's
// hash only when they moved.
type binaryWatch struct {
	path string
	size int64
	mod  time.Time
	sum  [sha256.Size]byte
}

func newBinaryWatch(path string) *binaryWatch {
	w := &binaryWatch{path: path}
	if fi, err := os.Stat(path); err == nil {
		w.size, w.mod = fi.Size(), fi.ModTime()
	}
	w.sum, _ = fileSum(path)
	return w
}

// changed reports whether the file now holds other content. A file that
// cannot be read (mid-swap) has not changed yet.
func (w *binaryWatch) changed() bool {
	fi, err := os.Stat(w.path)
	if err != nil || (fi.Size() == w.size && fi.ModTime().Equal(w.mod)) {
		return false
	}
	sum, err := fileSum(w.path)
	if err != nil {
		return false
	}
	if sum == w.sum {
		w.size, w.mod = fi.Size(), fi.ModTime() // touched, same content
		return false
	}
	return true
}

func fileSum(path string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return out, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return out, err
	}
	copy(out[:], h.Sum(nil))
	return out, nil
}
