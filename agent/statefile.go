package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// stateFileName is the state file's name in [agent] state_dir.
const stateFileName = "state.json"

// stateFileVersion is the state file's format; a file of another version
// is treated as corrupt (the broker's retained states are used instead).
const stateFileVersion = 1

// maxStateFile bounds what is read of a state file: a few hundred bytes
// per remembered entity, so anything this large is not one of ours.
const maxStateFile = 4 << 20

// stateFile is the state file's JSON: the last states of the entities
// that asked to be remembered, by "device/entity" (ids never hold '/').
type stateFile struct {
	Version int `json:"version"`
	// Node is the node id of the agent that wrote it; a file without one
	// (written before it was stored) is taken as this node's.
	Node   string               `json:"node,omitempty"`
	States map[string]fileValue `json:"states"`
	// Since is when the entities that are on went on (wall time), so
	// that max_on counts the time on before a restart too.
	Since map[string]time.Time `json:"since,omitempty"`
}

// fileValue is a drivers.Value as the state file stores it: exactly one
// of Bool, Num (with Unit), Text or Fields.
type fileValue struct {
	Bool   *bool       `json:"bool,omitempty"`
	Num    *float64    `json:"num,omitempty"`
	Unit   string      `json:"unit,omitempty"`
	Text   *string     `json:"text,omitempty"`
	Fields []fileField `json:"fields,omitempty"`
}

// fileField is one part of a compound value.
type fileField struct {
	Name  string    `json:"name"`
	Value fileValue `json:"value"`
}

// toFile encodes v; ok is false for a value JSON cannot hold (none, NaN,
// ±Inf), which is then not remembered.
func toFile(v drivers.Value) (fileValue, bool) {
	switch v.Kind {
	case drivers.ValueBool:
		b := v.Bool
		return fileValue{Bool: &b}, true
	case drivers.ValueNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return fileValue{}, false
		}
		n := v.Num
		return fileValue{Num: &n, Unit: string(v.Unit)}, true
	case drivers.ValueText:
		s := v.Text
		return fileValue{Text: &s}, true
	case drivers.ValueFields:
		fv := fileValue{Fields: []fileField{}}
		for _, f := range v.Fields {
			e, ok := toFile(f.Value)
			if !ok {
				return fileValue{}, false
			}
			fv.Fields = append(fv.Fields, fileField{Name: f.Name, Value: e})
		}
		return fv, true
	}
	return fileValue{}, false
}

// fromFile decodes a stored value; ok is false unless exactly one form is
// present.
func fromFile(f fileValue) (drivers.Value, bool) {
	forms := 0
	var v drivers.Value
	if f.Bool != nil {
		forms++
		v = drivers.Bool(*f.Bool)
	}
	if f.Num != nil {
		forms++
		v = drivers.Num(*f.Num, drivers.Unit(f.Unit))
	}
	if f.Text != nil {
		forms++
		v = drivers.Text(*f.Text)
	}
	if f.Fields != nil {
		forms++
		fs := make([]drivers.Field, 0, len(f.Fields))
		for _, ff := range f.Fields {
			fv, ok := fromFile(ff.Value)
			if !ok || ff.Name == "" {
				return drivers.Value{}, false
			}
			fs = append(fs, drivers.Field{Name: ff.Name, Value: fv})
		}
		v = drivers.Fields(fs...)
	}
	return v, forms == 1
}

// readStateFile reads the state file at path. A missing file is an error
// wrapping os.ErrNotExist; a file that is not a state file of this
// version is an error that says what is wrong with it.
func readStateFile(path string) (map[string]drivers.Value, error) {
	_, states, _, err := readStateFileOf(path)
	return states, err
}

// readStateFileOf is readStateFile that also returns the node id the file
// was written by ("" if it does not say) and when the entities on went on.
func readStateFileOf(path string) (string, map[string]drivers.Value, map[string]time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, nil, fmt.Errorf("read state file: %w", err)
	}
	defer f.Close()
	var sf stateFile
	dec := json.NewDecoder(&limitedReader{f: f, n: maxStateFile})
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		return "", nil, nil, fmt.Errorf("state file %s: not a state file: %w", path, err)
	}
	if sf.Version != stateFileVersion {
		return "", nil, nil, fmt.Errorf("state file %s: version %d, want %d", path, sf.Version, stateFileVersion)
	}
	states := make(map[string]drivers.Value, len(sf.States))
	for k, fv := range sf.States {
		v, ok := fromFile(fv)
		if !ok {
			return "", nil, nil, fmt.Errorf("state file %s: the state of %q is not a value", path, k)
		}
		states[k] = v
	}
	since := map[string]time.Time{}
	for k, t := range sf.Since {
		if _, ok := states[k]; ok && !t.IsZero() {
			since[k] = t
		}
	}
	return sf.Node, states, since, nil
}

// limitedReader reads at most n bytes, then fails, so that a huge file in
// the state's place is refused rather than read whole.
type limitedReader struct {
	f *os.File
	n int64
}

func (r *limitedReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, fmt.Errorf("larger than %d bytes", maxStateFile)
	}
	if int64(len(b)) > r.n {
		b = b[:r.n]
	}
	n, err := r.f.Read(b)
	r.n -= int64(n)
	return n, err
}

// stateFileWrite writes the new file's bytes; tests replace it to crash
// in the middle of a write.
var stateFileWrite = func(f *os.File, b []byte) (int, error) { return f.Write(b) }

// writeStateFile replaces the state file at path with node's states, atomically:
// it writes a temporary file beside it, syncs it, renames it over the old
// one and syncs the directory, so a crash or a power cut at any moment
// leaves either the old file or the new one, whole. Values JSON cannot
// hold are left out.
func writeStateFile(path, node string, states map[string]drivers.Value, since map[string]time.Time) error {
	sf := stateFile{Version: stateFileVersion, Node: node, States: make(map[string]fileValue, len(states))}
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fv, ok := toFile(states[k]); ok {
			sf.States[k] = fv
			if t, ok := since[k]; ok && !t.IsZero() {
				if sf.Since == nil {
					sf.Since = map[string]time.Time{}
				}
				sf.Since[k] = t.UTC()
			}
		}
	}
	b, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+stateFileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := stateFileWrite(tmp, b); err != nil {
		return fmt.Errorf("write state file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write state file: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	done = true
	// The rename is durable only once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write state file: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("write state file: sync directory %s: %w", dir, err)
	}
	return nil
}

// checkStateDir makes sure dir exists and a file can be created in it.
func checkStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+stateFileName+".*.probe")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
