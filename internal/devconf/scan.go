package devconf

// Key paths, and the line scanner that finds where each key is written.

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// stripBOM drops a byte order mark as toml does, so that offsets and
// lines count from the same first byte as toml's.
func stripBOM(data []byte) []byte {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		return data[2:]
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		return data[3:]
	}
	return data
}

// ValidID reports whether s is usable as a node or device id: one or more
// of [a-zA-Z0-9_-], since ids are MQTT topic levels and parts of Home
// Assistant's unique ids.
func ValidID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !bare(s[i]) {
			return false
		}
	}
	return true
}

// Path is a key path as written in messages: key segments are quoted
// as TOML would need them, array indexes are "[n]" segments. A quoted key
// starts with '"' and a bare one cannot hold '[', so the two never mix up.
type Path []string

// Key returns the path of key k inside the table at c. c is never changed,
// so one path can be the base of many.
func (c Path) Key(k string) Path { return append(c[:len(c):len(c)], quoteKey(k)) }

// Keys returns the path of the dotted key ks inside the table at c.
func (c Path) Keys(ks ...string) Path {
	for _, k := range ks {
		c = c.Key(k)
	}
	return c
}

// Index returns the path of element i of the array at c, counted from 0.
func (c Path) Index(i int) Path {
	return append(c[:len(c):len(c)], "["+strconv.Itoa(i)+"]")
}

// String writes the path as messages show it: "device[1].sensor.offset".
func (c Path) String() string {
	var b strings.Builder
	for i, s := range c {
		if i > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// quoteKey writes a key as TOML needs it in a dotted key.
func quoteKey(k string) string {
	if ValidID(k) {
		return k
	}
	return strconv.Quote(k)
}

// splitKey splits a dotted key as toml prints it ("a.\"b.c\"") into its
// parts.
func splitKey(s string) []string {
	sc := scanner{src: s}
	return sc.keyParts()
}

func bare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// scanLines finds the line of each table header and key in a TOML
// document that toml has already parsed: toml does not expose key
// positions, so Doc takes lines from here. It returns a map from paths as
// Path.String writes them ("mqtt.broker", "device[1]", "device[1].pin")
// to the line of their first mention. Keys inside inline tables are not mapped;
// their table's line stands for them.
func scanLines(src string) map[string]int {
	s := newScanner(src)
	s.run()
	return s.lines
}

// newScanner starts a scan of a whole document from its first line.
func newScanner(src string) *scanner {
	return &scanner{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
}

// run scans to the end of the input and returns the table it ends in.
func (s *scanner) run() Path {
	var table Path
	for s.i < len(s.src) {
		switch c := s.src[s.i]; c {
		case '\n':
			s.line++
			s.i++
		case ' ', '\t', '\r':
			s.i++
		case '#':
			s.skipLine()
		case '[':
			table = s.header()
			s.skipLine()
		default:
			s.keyValue(table)
			s.skipLine()
		}
	}
	return table
}

// scanner is the state of scanLines. Each method stops at the end of
// the input, whatever it holds, so that it is safe on any input.
type scanner struct {
	src    string
	i      int
	line   int
	lines  map[string]int
	arrays map[string]int // array-of-tables path → elements so far
}

func (s *scanner) mark(p Path) {
	k := p.String()
	if _, ok := s.lines[k]; !ok {
		s.lines[k] = s.line
	}
}

// header reads "[a.b]" or "[[a.b]]" and returns the table's path, with
// the element index of every array of tables on it.
func (s *scanner) header() Path {
	s.i++
	array := s.i < len(s.src) && s.src[s.i] == '['
	if array {
		s.i++
	}
	parts := s.keyParts()
	var path Path
	for j, k := range parts {
		path = path.Key(k)
		s.mark(path)
		last := j == len(parts)-1
		if n, ok := s.arrays[path.String()]; ok && !(last && array) {
			path = path.Index(n - 1)
		}
		if last && array {
			n := s.arrays[path.String()]
			s.arrays[path.String()] = n + 1
			path = path.Index(n)
		}
	}
	s.mark(path)
	return path
}

// keyValue reads "a.b = value", marking a, a.b under table.
func (s *scanner) keyValue(table Path) {
	parts := s.keyParts()
	s.skipSpace()
	if len(parts) == 0 || s.i >= len(s.src) || s.src[s.i] != '=' {
		return
	}
	s.i++
	path := table
	for _, k := range parts {
		path = path.Key(k)
		s.mark(path)
	}
	s.skipValue()
}

// keyParts reads a dotted key and returns its parts, unquoted.
func (s *scanner) keyParts() []string {
	var parts []string
	for {
		s.skipSpace()
		if s.i >= len(s.src) {
			return parts
		}
		switch c := s.src[s.i]; {
		case c == '"':
			parts = append(parts, unescape(s.quoted()))
		case c == '\'':
			parts = append(parts, s.quoted())
		case bare(c):
			start := s.i
			for s.i < len(s.src) && bare(s.src[s.i]) {
				s.i++
			}
			parts = append(parts, s.src[start:s.i])
		default:
			return parts
		}
		s.skipSpace()
		if s.i >= len(s.src) || s.src[s.i] != '.' {
			return parts
		}
		s.i++
	}
}

// quoted reads a one-line string and returns what is between its quotes,
// escapes left in.
func (s *scanner) quoted() string {
	q := s.src[s.i]
	s.i++
	start := s.i
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		c := s.src[s.i]
		if c == '\\' && q == '"' && s.i+1 < len(s.src) && s.src[s.i+1] != '\n' {
			s.i += 2
			continue
		}
		if c == q {
			s.i++
			return s.src[start : s.i-1]
		}
		s.i++
	}
	return s.src[start:s.i]
}

// skipValue skips a value, which may span lines (multi-line strings,
// arrays, inline tables), counting the lines it passes.
func (s *scanner) skipValue() {
	s.skipSpace()
	if s.i >= len(s.src) {
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.skipString()
	case '[', '{':
		depth := 0
		for s.i < len(s.src) {
			switch s.src[s.i] {
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			case '"', '\'':
				s.skipString()
				continue
			case '#':
				s.skipLine()
				continue
			case '\n':
				s.line++
			}
			s.i++
		}
	}
	// A bare value (number, boolean, date) ends the line; skipLine does it.
}

// skipString skips a string of any of TOML's four kinds.
func (s *scanner) skipString() {
	q := s.src[s.i]
	triple := strings.Repeat(string(q), 3)
	if !strings.HasPrefix(s.src[s.i:], triple) {
		s.quoted()
		return
	}
	s.i += 3
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\\' && q == '"':
			if s.i+1 < len(s.src) && s.src[s.i+1] == '\n' {
				s.line++
			}
			s.i += 2
			continue
		case c == '\n':
			s.line++
		case strings.HasPrefix(s.src[s.i:], triple):
			s.i += 3
			// Up to two more quotes belong to the content: """a"""""
			for n := 0; n < 2 && s.i < len(s.src) && s.src[s.i] == q; n++ {
				s.i++
			}
			return
		}
		s.i++
	}
}

func (s *scanner) skipSpace() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

func (s *scanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

// unescape decodes a TOML basic string's escapes (TOML 1.1's \e and
// \xHH included). An escape it does not know is kept as written; toml
// has already rejected those.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(c)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if i+1+n <= len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseKey reads a key as a driver names it in a drivers.KeyError: a dotted
// TOML key whose parts may each be followed by array indexes, such as
// "pin", "sensor.offset", "pins[1]" or `chans[0]."n"`. ok is false when s
// is not one.
func parseKey(s string) (Path, bool) {
	sc := scanner{src: s}
	var p Path
	for {
		sc.skipSpace()
		if sc.i >= len(s) {
			return nil, false
		}
		switch c := s[sc.i]; {
		case c == '"' || c == '\'':
			start := sc.i
			k := sc.quoted()
			if len(k) != sc.i-start-2 {
				return nil, false // not closed
			}
			if c == '"' {
				k = unescape(k)
			}
			p = p.Key(k)
		case bare(c):
			start := sc.i
			for sc.i < len(s) && bare(s[sc.i]) {
				sc.i++
			}
			p = p.Key(s[start:sc.i])
		default:
			return nil, false
		}
		for sc.i < len(s) && s[sc.i] == '[' {
			end := strings.IndexByte(s[sc.i:], ']')
			if end < 0 {
				return nil, false
			}
			n, err := strconv.Atoi(s[sc.i+1 : sc.i+end])
			if err != nil || n < 0 {
				return nil, false
			}
			p = p.Index(n)
			sc.i += end + 1
		}
		sc.skipSpace()
		if sc.i == len(s) {
			return p, true
		}
		if s[sc.i] != '.' {
			return nil, false
		}
		sc.i++
	}
}

// syntaxScalar matches the bare values TOML takes: numbers, dates and
// times, booleans, inf and nan.
var syntaxScalar = regexp.MustCompile(`^([-+]?[0-9][0-9_.eExXoObB+:TZ a-fA-F-]*|true|false|[-+]?inf|[-+]?nan)$`)

// syntaxContext names the key on line n of a document TOML could not
// parse, with the table it is in ("mqtt.keepalive", "device[1].pin"), and
// a hint when its value is bare text that needs quotes (keepalive = 30s).
// It returns "" when line n is not a key = value line.
func syntaxContext(text string, n int) (key, hint string) {
	lines := strings.SplitAfter(text, "\n")
	if n < 1 || n > len(lines) {
		return "", ""
	}
	// The table is where the scanner stands at the start of line n; it
	// knows arrays of tables and skips multi-line strings.
	before := strings.Join(lines[:n-1], "")
	table := newScanner(before).run()

	line := strings.TrimRight(lines[n-1], "\r\n")
	ks := &scanner{src: line}
	parts := ks.keyParts()
	ks.skipSpace()
	if len(parts) == 0 || ks.i >= len(line) || line[ks.i] != '=' {
		return "", ""
	}
	path := table
	for _, p := range parts {
		path = path.Key(p)
	}
	value, _, _ := strings.Cut(line[ks.i+1:], "#")
	value = strings.TrimSpace(value)
	name := strings.Join(parts, ".")
	if slices.ContainsFunc(path, func(k string) bool { return SecretKey(strings.Trim(k, `"`)) }) {
		// A secret is text; its value is never quoted back.
		if value == "" || !strings.ContainsAny(value[:1], "\"'[{") {
			hint = fmt.Sprintf(`text needs quotes: %s = "…"`, name)
		}
		return path.String(), hint
	}
	switch lower := strings.ToLower(value); {
	case lower == "true" || lower == "false":
		hint = fmt.Sprintf("true and false are written in lower case: %s = %s", name, lower)
	case lower == "yes" || lower == "no" || lower == "on" || lower == "off":
		hint = fmt.Sprintf("a yes/no setting is written true or false; text needs quotes: %s = %q", name, value)
	case value != "" && !strings.ContainsAny(value[:1], "\"'[{") && !syntaxScalar.MatchString(value):
		hint = fmt.Sprintf("text needs quotes: %s = %q", name, value)
	}
	return path.String(), hint
}

// syntaxSecret returns the value written on line n of a document TOML
// could not parse, as written, and whether it is a secret's: a key on the
// line or the table it is in is one that SecretKey names.
func syntaxSecret(text string, n int) (raw string, secret bool) {
	lines := strings.SplitAfter(text, "\n")
	if n < 1 || n > len(lines) {
		return "", false
	}
	table := newScanner(strings.Join(lines[:n-1], "")).run()
	raw, secret, ok := lineValue(strings.TrimRight(lines[n-1], "\r\n"))
	if !ok {
		return "", false
	}
	for _, k := range table {
		secret = secret || SecretKey(strings.Trim(k, `"`))
	}
	return raw, secret
}

// lineValue splits a "key = value" line: raw is the value as written (to
// the end of the line, since a '#' may be part of a secret), secret tells
// whether a part of the key is a secret's name. ok is false for any other
// line.
func lineValue(line string) (raw string, secret, ok bool) {
	ks := &scanner{src: line}
	parts := ks.keyParts()
	ks.skipSpace()
	if len(parts) == 0 || ks.i >= len(line) || line[ks.i] != '=' {
		return "", false, false
	}
	for _, p := range parts {
		secret = secret || SecretKey(p)
	}
	return strings.TrimSpace(line[ks.i+1:]), secret, true
}

// secretLines finds the secret values of a document that TOML could not
// parse, line by line: the value of each key = value line whose key or
// table is a secret's name, as written and as TOML reads it. It is for
// scrubbing a syntax error's message, so a value over several lines is
// taken as far as its first line goes.
func secretLines(text string) []string {
	var vals []string
	inSecret := false // the current table is under a secret key
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			hs := &scanner{src: strings.TrimLeft(line, "[")}
			inSecret = slices.ContainsFunc(hs.keyParts(), SecretKey)
			continue
		}
		raw, secret, ok := lineValue(line)
		if !ok || !(secret || inSecret) || raw == "" {
			continue
		}
		vals = append(vals, raw)
		switch q := raw[0]; q {
		case '"', '\'':
			vs := &scanner{src: raw}
			inner := vs.quoted()
			if q == '"' {
				vals = append(vals, inner, unescape(inner))
			} else {
				vals = append(vals, inner)
			}
		default:
			bare, _, _ := strings.Cut(raw, "#")
			vals = append(vals, strings.TrimSpace(bare))
		}
	}
	return vals
}
