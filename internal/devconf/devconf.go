// Package devconf is the configuration decoding that the agent's loader
// (package agent) and drivertest share, so that a driver tested with
// drivertest meets the same checks, in the same words, as under the agent.
// drivertest cannot import agent (which pulls in MQTT), so the code lives
// here, below both.
//
// BurntSushi/toml does not expose key positions, and its MetaData marks
// keys decoded by path string ("device.pin"), which every [[device]]
// element shares. So a document is decoded into plain maps (Parse), lines
// are found by a small scanner of its own, and each device's driver keys
// are decoded through a fresh toml decode of just that device's keys
// (Decoder), so that strictness (MetaData.Undecoded) is per device.
//
// Every problem is collected rather than returned at the first, so that a
// user fixes them all in one go: a Doc gathers them, with the file, line
// and key of each.
package devconf

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the configuration's file name.
	File string
	// Line is the line the problem is on, counted from 1, or 0 when it has
	// none (a default that does not work, such as an unavailable hostname).
	Line int
	// Key is the key at fault, such as "mqtt.broker" or "device[1].pin";
	// array elements are counted from 0.
	Key string
	// Msg says what is wrong and, where it can, how to fix it.
	Msg string
	// Err is the underlying error, if any (a toml error, an os error
	// reading password_file, a driver's error), kept so that errors.Is and
	// errors.As see through a ConfigError.
	Err error
}

// String formats the problem as "file:line: key: msg", leaving out the
// parts it does not have.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ConfigError is every problem found in a configuration, so that a user
// fixes them all in one go instead of one per run.
type ConfigError struct {
	// Problems are sorted by line.
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems' underlying errors, for errors.Is and
// errors.As.
func (e *ConfigError) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// sortByLine sorts problems by line, keeping the order of those on one
// line, which is the order they were found in.
func sortByLine(probs []Problem) {
	slices.SortStableFunc(probs, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
}

// Doc is a parsed document: where its keys are written, and the problems
// found in it so far.
type Doc struct {
	// File names the document in problems, and anchors paths written in
	// it.
	File string

	lines    map[string]int
	problems []Problem
	// secrets are the secret values the document holds, scrubbed from
	// every problem it reports.
	secrets Secrets
}

// Parse parses data as TOML into plain maps, and finds the line of each
// key. A syntax error is returned alone, as a *ConfigError, since nothing
// after it can be trusted. file names the document in problems.
//
// No problem quotes a secret: the values of keys that SecretKey names are
// never shown, and every problem is scrubbed of them (see Secrets).
func Parse(file string, data []byte) (map[string]any, *Doc, error) {
	text := stripBOM(data)
	var root map[string]any
	if err := toml.Unmarshal(data, &root); err != nil {
		// The maps are not there to say which values are secret, so the
		// text is searched for them, line by line.
		var secrets Secrets
		for _, v := range secretLines(string(text)) {
			secrets.Add(v)
		}
		prob := Problem{File: file, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// toml counts one line too many when the offending byte is
			// the newline itself ("[mqtt" then a line break), so count
			// from the byte offset. LastKey is left out: it is the last
			// key parsed, not necessarily the one at fault.
			prob.Line = pe.Position.Line
			if pe.Position.Start >= 0 && pe.Position.Start <= len(text) {
				prob.Line = 1 + bytes.Count(text[:pe.Position.Start], []byte("\n"))
			}
			prob.Msg = pe.Message
			if key, hint := syntaxContext(string(text), prob.Line); key != "" {
				prob.Key = key
				// toml quotes the text it stumbled on ("invalid
				// datetime: \"1979-05-2\"", "123… is out of range"),
				// which on a secret's line is part of the secret.
				if raw, secret := syntaxSecret(string(text), prob.Line); secret && quotesPart(prob.Msg, raw) {
					prob.Msg = "not valid TOML (the value is not shown: it is a secret)"
				}
				if hint != "" {
					prob.Msg += "; " + hint
				}
			}
		}
		return nil, nil, &ConfigError{Problems: []Problem{secrets.scrubProblem(prob)}}
	}
	d := &Doc{File: file, lines: scanLines(string(text))}
	d.secrets.collect(root, false)
	return root, d, nil
}

// problem builds a Problem at path, with the line of the path or of its
// nearest enclosing key, without recording it.
func (d *Doc) problem(path Path, err error, format string, args ...any) Problem {
	return Problem{File: d.File, Line: d.Line(path), Key: path.String(), Msg: fmt.Sprintf(format, args...), Err: err}
}

// Add records a problem at path.
func (d *Doc) Add(path Path, err error, format string, args ...any) {
	d.problems = append(d.problems, d.problem(path, err, format, args...))
}

// AddSecret records a secret value the document leads to but does not
// hold, such as the content of a password file, so that no problem
// quotes it either.
func (d *Doc) AddSecret(v string) { d.secrets.Add(v) }

// Scrub returns text with every secret value of the document masked, for
// messages about the document that are not problems in it.
func (d *Doc) Scrub(text string) string { return d.secrets.Scrub(text) }

// AddProblems records problems built elsewhere, such as a Decoder's.
func (d *Doc) AddProblems(probs ...Problem) {
	d.problems = append(d.problems, probs...)
}

// Line returns the line of path, or of the nearest enclosing key that is
// written in the document (an inline table's keys have the line of the
// table), or 0.
func (d *Doc) Line(path Path) int {
	for k := len(path); k > 0; k-- {
		if l, ok := d.lines[path[:k].String()]; ok {
			return l
		}
	}
	return 0
}

// Err returns the problems recorded so far as a *ConfigError sorted by
// line, or nil when there are none.
func (d *Doc) Err() error {
	if len(d.problems) == 0 {
		return nil
	}
	probs := slices.Clone(d.problems)
	for i, p := range probs {
		probs[i] = d.secrets.scrubProblem(p)
	}
	sortByLine(probs)
	return &ConfigError{Problems: probs}
}

// Table is one table of a document with the path it sits at. Its methods
// read keys strictly: a value of the wrong type is recorded as a problem in
// Doc, named by its path.
type Table struct {
	// Doc is the document the table is in, where problems are recorded.
	Doc *Doc
	// Path is where the table sits, such as "mqtt" or "sim.toggle[1]".
	Path Path
	// M is the table's keys; nil for a table the document leaves out.
	M map[string]any
}

// Table returns the table under the last key of path in parent, whose
// section header is header ("[mqtt]"). A missing table is empty; anything
// but a table is a problem.
func (d *Doc) Table(path Path, parent map[string]any, header string) Table {
	t := Table{Doc: d, Path: path}
	v, ok := parent[path[len(path)-1]]
	if !ok {
		return t
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.Add(path, nil, "must be a table (a %s section), not %s", header, TypeName(v))
		return t
	}
	t.M = m
	return t
}

// Has reports whether the table has key, whatever its type.
func (t Table) Has(key string) bool {
	_, ok := t.M[key]
	return ok
}

// Keys returns the table's keys, sorted.
func (t Table) Keys() []string { return sortedKeys(t.M) }

// Unknown records a problem for each key that is not in known, suggesting
// the known key it is closest to or else listing those header takes.
func (t Table) Unknown(known []string, header string) {
	for _, k := range t.Keys() {
		if slices.Contains(known, k) {
			continue
		}
		if s := Suggest(k, known); s != "" {
			t.Doc.Add(t.Path.Key(k), nil, "unknown key (did you mean %q?)", s)
		} else {
			t.Doc.Add(t.Path.Key(k), nil, "unknown key (%s takes: %s)", header, strings.Join(known, ", "))
		}
	}
}

// Str returns the string at key; ok is false when it is missing or not a
// string (then a problem is recorded).
func (t Table) Str(key string) (string, bool) {
	v, ok := t.M[key]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.Doc.Add(t.Path.Key(key), nil, "must be a string, not %s", describeAt(key, v))
		return "", false
	}
	return s, true
}

// Bool returns the boolean at key; ok is false when it is missing or not a
// boolean (then a problem is recorded).
func (t Table) Bool(key string) (bool, bool) {
	v, ok := t.M[key]
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		t.Doc.Add(t.Path.Key(key), nil, "must be a boolean (true or false), not %s", describeAt(key, v))
		return false, false
	}
	return b, true
}

// Duration returns the duration at key, written as a string such as "30s".
// Integers are refused: toml would read them as nanoseconds, which is
// never what a person writing `keepalive = 30` means.
func (t Table) Duration(key string) (time.Duration, bool) {
	v, ok := t.M[key]
	if !ok {
		return 0, false
	}
	s, ok := v.(string)
	if !ok {
		t.Doc.Add(t.Path.Key(key), nil, `must be a duration string such as "30s" or "500ms", not %s`, describeAt(key, v))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if SecretKey(key) {
			// time's error quotes the text.
			t.Doc.Add(t.Path.Key(key), nil, `invalid duration (not shown: it is a secret): use a number with a unit, such as "30s" or "500ms"`)
			return 0, false
		}
		t.Doc.Add(t.Path.Key(key), err, `invalid duration %q: use a number with a unit, such as "30s" or "500ms"`, s)
		return 0, false
	}
	return d, true
}

// OneOf records a problem unless v, the value at key, is one of allowed.
func (t Table) OneOf(key, v string, allowed ...string) {
	if slices.Contains(allowed, v) {
		return
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	hint := ""
	if s := Suggest(v, allowed); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	t.Doc.Add(t.Path.Key(key), nil, "%q is not one of %s%s", v, strings.Join(quoted, ", "), hint)
}

// Tables returns v as a list of tables: an array of tables ([[x]]) or an
// inline array of inline tables.
func Tables(v any) ([]map[string]any, bool) {
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out = append(out, m)
		}
		return out, true
	}
	return nil, false
}

// sortedKeys returns the keys of m, sorted, so that problems come in the
// same order on every run.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TypeName names the TOML type of a parsed value: "an integer".
func TypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// describeAt is describe for the value at key, which names only the type
// of a secret's value: "must be a string, not an integer" rather than the
// password.
func describeAt(key string, v any) string {
	if SecretKey(key) {
		return TypeName(v)
	}
	return describe(v)
}

// describe names a value's type and, for a short scalar, the value:
// "an integer (17)". Use describeAt for a value at a key.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) <= 40 {
			return fmt.Sprintf("%s (%q)", TypeName(v), x)
		}
	case int64, bool:
		return fmt.Sprintf("%s (%v)", TypeName(v), x)
	case float64:
		return fmt.Sprintf("%s (%s)", TypeName(v), strconv.FormatFloat(x, 'g', -1, 64))
	}
	return TypeName(v)
}

// Suggest returns the known key closest to key, within an edit distance of
// 2 (ignoring case), or else the known key that key starts with or that
// starts with key ("warning" for "warn"), or "".
func Suggest(key string, known []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(key)
	for _, k := range known {
		if d := distance(lk, strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range known {
		lower := strings.ToLower(k)
		short, long := lower, lk
		if len(short) > len(long) {
			short, long = long, short
		}
		if len(short) >= 4 && strings.HasPrefix(long, short) {
			return k
		}
	}
	return ""
}

// distance is the optimal string alignment distance between a and b
// (Levenshtein plus adjacent transpositions), or 3 if it is more than 2.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > 2 || d < -2 {
		return 3
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], 3)
}

// Secrets.
//
// A configuration holds secrets: the MQTT password, and whatever a driver
// takes (a token, a key). No problem may quote one, since problems end up
// in terminals, logs and bug reports. The first defence is not to quote
// values of keys whose names say they are secret (SecretKey); the second
// is to scrub every problem's text of the secret values the document holds
// (Secrets), whatever path the text took: a driver's error, a toml
// message, a panic's value.

// SecretKey reports whether a key's name says its value is a secret: it
// contains pass (password, passwd, passphrase), secret, token, credential,
// private, psk or api_key / apikey. A key that names a file, a path or a
// directory (password_file, key_file) holds where a secret is, not the
// secret, and is not one.
func SecretKey(name string) bool {
	n := strings.ToLower(name)
	for _, suffix := range []string{"_file", "_path", "_dir"} {
		if strings.HasSuffix(n, suffix) {
			return false
		}
	}
	for _, w := range []string{"pass", "secret", "token", "credential", "private", "psk", "api_key", "apikey"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Secret values shorter than MinScrub bytes are not scrubbed: masking
// "mqtt" or "true" wherever it occurs would make every message unreadable.
// They are still never quoted where a value is shown.
const MinScrub = 6

// secretMask replaces a secret in scrubbed text.
const secretMask = "*****"

// maxSecrets bounds what a Secrets remembers; the oldest go first.
const maxSecrets = 256

// Secrets is a set of secret values to mask in text. The zero value is
// empty and ready; it is safe for concurrent use.
type Secrets struct {
	mu   sync.Mutex
	vals []string // each secret and the forms messages quote it in
}

// Add records the secret v, in the forms a message may show it: as is,
// and as %q and TOML write it inside quotes.
func (s *Secrets) Add(v string) {
	if len(v) < MinScrub {
		return
	}
	forms := []string{v}
	for _, q := range []string{strconv.Quote(v), strconv.QuoteToASCII(v)} {
		forms = append(forms, q[1:len(q)-1])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range forms {
		if !slices.Contains(s.vals, f) {
			s.vals = append(s.vals, f)
		}
	}
	if n := len(s.vals) - maxSecrets; n > 0 {
		s.vals = slices.Delete(s.vals, 0, n)
	}
}

// Scrub returns text with every recorded secret masked, longest first so
// that a secret that holds another is masked whole.
func (s *Secrets) Scrub(text string) string {
	s.mu.Lock()
	vals := slices.Clone(s.vals)
	s.mu.Unlock()
	if len(vals) == 0 {
		return text
	}
	slices.SortFunc(vals, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, v := range vals {
		text = strings.ReplaceAll(text, v, secretMask)
	}
	return text
}

// scrubProblem masks the secrets in p's message and in its underlying
// error's text; errors.Is and errors.As still see the error itself.
func (s *Secrets) scrubProblem(p Problem) Problem {
	p.Msg = s.Scrub(p.Msg)
	if p.Err != nil {
		if msg := s.Scrub(p.Err.Error()); msg != p.Err.Error() {
			p.Err = &scrubbedError{err: p.Err, msg: msg}
		}
	}
	return p
}

// collect records the secret values in a parsed table: the values of
// secret keys, and everything under a secret key that is a table or an
// array. within is true under a secret key.
func (s *Secrets) collect(v any, within bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			s.collect(e, within || SecretKey(k))
		}
	case []map[string]any:
		for _, e := range v {
			s.collect(e, within)
		}
	case []any:
		for _, e := range v {
			s.collect(e, within)
		}
	case string:
		if within {
			s.Add(v)
		}
	case int64:
		if within {
			s.Add(strconv.FormatInt(v, 10))
		}
	case float64:
		if within {
			s.Add(strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
}

// scrubbedError is an error whose text had a secret in it: Error is the
// scrubbed text, Unwrap the error itself.
type scrubbedError struct {
	err error
	msg string
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// quotesPart reports whether msg holds a piece of raw long enough to give
// it away: four bytes in a row, or all of a shorter raw.
func quotesPart(msg, raw string) bool {
	n := min(4, len(raw))
	if n == 0 {
		return false
	}
	for i := 0; i+n <= len(raw); i++ {
		if strings.Contains(msg, raw[i:i+n]) {
			return true
		}
	}
	return false
}
