package triage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pcapaudit/pcapaudit/capture"
)

// Expand turns the inputs named on a command line into capture files: a directory is
// walked recursively (in lexical order), and the files in it that are not captures — by
// their first bytes, never their names — are skipped, each with one call to skip saying
// why (without the name). A file named directly is kept as it is (the audit reports it if it cannot be read),
// and so is "-". A directory that cannot be walked, or a file in one that cannot be read,
// is kept too, so that the audit names it with its error.
func Expand(names []string, skip func(name, why string)) (files []string, dirs int) {
	for _, n := range names {
		st, err := os.Stat(n)
		if n == capture.Stdin || err != nil || !st.IsDir() {
			files = append(files, n)
			continue
		}
		dirs++
		filepath.WalkDir(n, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == n || d == nil || d.IsDir() {
					skip(p, err.Error())
					return nil
				}
				files = append(files, p)
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
					skip(p, "not a regular file")
					return nil
				}
			}
			src, err := capture.Open(p)
			if err == nil {
				src.Close()
				files = append(files, p)
				return nil
			}
			if errors.Is(err, capture.ErrNotCapture) || errors.Is(err, capture.ErrEmpty) {
				skip(p, strings.TrimPrefix(err.Error(), p+": "))
				return nil
			}
			files = append(files, p) // unreadable or damaged: the audit reports it
			return nil
		})
	}
	return files, dirs
}
