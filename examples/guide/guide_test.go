package guide_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the module's root, from this package's directory.
const repoRoot = "../.."

// guidePath is the guide, from this package's directory.
const guidePath = repoRoot + "/docs/writing-drivers.md"

// docModule is the module path of the guide's doorbell driver. Its files
// are built inside this module, with the path replaced by theirs.
const docModule = "example.com/you/pinion-doorbell"

// referenceDirs are the packages an API listing can be "In", by name.
var referenceDirs = map[string]string{
	"drivers":    repoRoot + "/drivers",
	"drivertest": repoRoot + "/drivers/drivertest",
}

// block is one fenced code block of the guide.
type block struct {
	line int    // of the opening fence, counted from 1
	lang string // "go", "toml", "sh", or ""
	text string // the content, ending in a newline
	// file is the path a "`path`:" line before the block names: a file
	// of the doorbell module.
	file string
	// quote is the path a "From `path`:" line before the block names: a
	// file of the repository that holds the block verbatim.
	quote string
	// in is the package an API listing's first line names ("// In
	// package drivers:").
	in string
}

func (b block) String() string { return fmt.Sprintf("%s:%d", guidePath, b.line) }

var (
	fileLabel  = regexp.MustCompile("^`([^`]+)`:$")
	quoteLabel = regexp.MustCompile("^From `([^`]+)`:$")
	inPackage  = regexp.MustCompile(`^// In package (\w+):\n`)
)

// readGuide returns the guide and its code blocks.
func readGuide(t *testing.T) (string, []block) {
	t.Helper()
	b, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var blocks []block
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		fence, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		bl := block{line: i + 1, lang: strings.TrimSpace(fence)}
		if i > 0 {
			label := strings.TrimSpace(lines[i-1])
			if m := fileLabel.FindStringSubmatch(label); m != nil {
				bl.file = m[1]
			} else if m := quoteLabel.FindStringSubmatch(label); m != nil {
				bl.quote = m[1]
			}
		}
		var body strings.Builder
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body.WriteString(lines[i] + "\n")
		}
		if i == len(lines) {
			t.Fatalf("%s: the block never ends", bl)
		}
		bl.text = body.String()
		if m := inPackage.FindStringSubmatch(bl.text); m != nil && bl.lang == "go" {
			bl.in = m[1]
		}
		blocks = append(blocks, bl)
	}
	if len(blocks) == 0 {
		t.Fatal("the guide has no code blocks")
	}
	return doc, blocks
}

// TestGoBlocksKnown checks that every Go block is one the tests check: a
// file of the doorbell module, a quote, or an API listing.
func TestGoBlocksKnown(t *testing.T) {
	_, blocks := readGuide(t)
	kinds := map[string]int{}
	for _, b := range blocks {
		if b.lang != "go" {
			continue
		}
		switch {
		case b.file != "":
			kinds["file"]++
		case b.quote != "":
			kinds["quote"]++
		case b.in != "":
			if _, ok := referenceDirs[b.in]; !ok {
				t.Errorf("%s: an API listing of package %q, which the tests do not know", b, b.in)
			}
			kinds["listing"]++
		default:
			t.Errorf("%s: a Go block that is neither a file (\"`name.go`:\" on the line before), a quote (\"From `path`:\") nor an API listing (\"// In package drivers:\" first): nothing checks it", b)
		}
	}
	for _, k := range []string{"file", "quote", "listing"} {
		if kinds[k] == 0 {
			t.Errorf("the guide has no Go block of kind %s: did the labels change?", k)
		}
	}
}

// TestGoBlocksFormatted checks that every Go file and listing is as gofmt
// writes it, so that a reader copies code that needs no reformatting.
func TestGoBlocksFormatted(t *testing.T) {
	_, blocks := readGuide(t)
	for _, b := range blocks {
		if b.lang != "go" || b.quote != "" {
			continue
		}
		src := b.text
		const header = "package listing\n\n"
		if b.in != "" {
			src = header + src
		}
		got, err := format.Source([]byte(src))
		if err != nil {
			t.Errorf("%s: %v", b, err)
			continue
		}
		if b.in != "" {
			got = bytes.TrimPrefix(got, []byte(header))
		}
		if string(got) != b.text {
			t.Errorf("%s: not gofmt-formatted; gofmt writes:\n%s", b, got)
		}
	}
}

// TestQuotes checks that every quote of a repository file is in it, as the
// guide shows it.
func TestQuotes(t *testing.T) {
	_, blocks := readGuide(t)
	for _, b := range blocks {
		if b.quote == "" {
			continue
		}
		src, err := os.ReadFile(filepath.Join(repoRoot, b.quote))
		if err != nil {
			t.Errorf("%s: quotes %s: %v", b, b.quote, err)
			continue
		}
		if !strings.Contains(string(src), b.text) {
			t.Errorf("%s: the quote is no longer in %s; copy it again from there:\n%s", b, b.quote, b.text)
		}
	}
}

// decls are a package's top-level declarations, by key: "Device" for a
// type, function, constant or variable, "Value.Field" for a method.
type decls map[string]string

// parsePackage returns the declarations of the non-test Go files in dir.
func parsePackage(t *testing.T, dir string) decls {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Go files in %s (%v)", dir, err)
	}
	fset := token.NewFileSet()
	ds := decls{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		collect(fset, f, ds)
	}
	return ds
}

// collect adds f's declarations to ds, each in a normal form that leaves
// out comments, layout and the grouping of names ("a, b int" is "a int;
// b int"), so that a listing and the source compare equal when they
// declare the same thing.
func collect(fset *token.FileSet, f *ast.File, ds decls) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			key := d.Name.Name
			if d.Recv != nil {
				key = recvBase(d.Recv.List[0].Type) + "." + key
				ds[key] = "func(" + norm(fset, d.Recv.List[0].Type) + ")" + norm(fset, d.Type)
			} else {
				ds[key] = norm(fset, d.Type)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					ds[s.Name.Name] = "type" + fields(fset, s.TypeParams) + " " + norm(fset, s.Type)
				case *ast.ValueSpec:
					for i, n := range s.Names {
						v := d.Tok.String()
						if s.Type != nil {
							v += " " + norm(fset, s.Type)
						}
						if i < len(s.Values) {
							v += " = " + norm(fset, s.Values[i])
						}
						ds[n.Name] = v
					}
				}
			}
		}
	}
}

// recvBase returns the type name of a method's receiver: "Value", "Worker".
func recvBase(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return recvBase(e.X)
	case *ast.IndexExpr:
		return recvBase(e.X)
	case *ast.Ident:
		return e.Name
	}
	return fmt.Sprintf("%T", e)
}

// norm returns the normal form of a type or an expression.
func norm(fset *token.FileSet, e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StructType:
		return "struct{" + fields(fset, e.Fields) + "}"
	case *ast.InterfaceType:
		var ms []string
		for _, m := range e.Methods.List {
			if len(m.Names) == 0 {
				ms = append(ms, norm(fset, m.Type))
			}
			for _, n := range m.Names {
				ms = append(ms, n.Name+norm(fset, m.Type))
			}
		}
		return "interface{" + strings.Join(ms, "; ") + "}"
	case *ast.FuncType:
		s := "(" + fields(fset, e.Params) + ")"
		if e.Results != nil {
			s += " (" + fields(fset, e.Results) + ")"
		}
		if e.TypeParams != nil {
			s = "[" + fields(fset, e.TypeParams) + "]" + s
		}
		return s
	}
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, e); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return b.String()
}

// fields returns the normal form of a field list: one "name type tag" per
// name.
func fields(fset *token.FileSet, fl *ast.FieldList) string {
	if fl == nil {
		return ""
	}
	var out []string
	for _, f := range fl.List {
		typ := norm(fset, f.Type)
		if f.Tag != nil {
			typ += " " + f.Tag.Value
		}
		if len(f.Names) == 0 {
			out = append(out, typ)
		}
		for _, n := range f.Names {
			out = append(out, n.Name+" "+typ)
		}
	}
	return strings.Join(out, "; ")
}

// TestListings checks that every declaration of the API listings is the
// package's own: the same fields in the same order, the same signatures,
// the same values. A listing may leave declarations out, not change them.
func TestListings(t *testing.T) {
	_, blocks := readGuide(t)
	pkgs := map[string]decls{}
	listed := 0
	for _, b := range blocks {
		if b.in == "" {
			continue
		}
		dir, ok := referenceDirs[b.in]
		if !ok {
			continue // TestGoBlocksKnown reports it
		}
		if pkgs[b.in] == nil {
			pkgs[b.in] = parsePackage(t, dir)
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, b.String(), "package "+b.in+"\n"+b.text, 0)
		if err != nil {
			t.Errorf("%s: %v", b, err)
			continue
		}
		doc := decls{}
		collect(fset, f, doc)
		keys := make([]string, 0, len(doc))
		for k := range doc {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			listed++
			src, ok := pkgs[b.in][k]
			switch {
			case !ok:
				t.Errorf("%s: %s lists %s, which package %s does not declare", b, b.in, k, b.in)
			case src != doc[k]:
				t.Errorf("%s: %s.%s differs from the source:\n  guide:  %s\n  source: %s", b, b.in, k, doc[k], src)
			}
		}
	}
	if listed < 50 {
		t.Errorf("the listings declare %d names; the guide lists the API a driver touches, so that is too few", listed)
	}
}

// TestListingsComplete checks that the listings show every type a driver
// touches, with its fields: the ones of the driver API that a driver
// builds, reports or receives.
func TestListingsComplete(t *testing.T) {
	_, blocks := readGuide(t)
	var all strings.Builder
	for _, b := range blocks {
		if b.in == "drivers" {
			all.WriteString(b.text)
		}
	}
	for _, name := range []string{
		"Driver", "Config", "KeyError", "Device", "Info", "Poller", "Commander", "Handler", "Claimer",
		"GPIOProvider", "I2CProvider", "Output", "Entity", "Spec", "Sensor", "BinarySensor", "Switch",
		"Button", "Number", "Light", "Cover", "Event", "Select", "Value", "Field", "Command", "Host",
		"Clock", "SerialMode", "Port", "SharedPort", "OneWireBus", "Resource",
	} {
		if !regexp.MustCompile(`(?m)^type ` + name + ` `).MatchString(all.String()) {
			t.Errorf("no listing declares drivers.%s", name)
		}
	}
}

// TestNames checks that every drivers.X and drivertest.X the guide names,
// in prose or code, exists.
func TestNames(t *testing.T) {
	doc, _ := readGuide(t)
	for pkg, dir := range referenceDirs {
		ds := parsePackage(t, dir)
		re := regexp.MustCompile(`\b` + pkg + `\.([A-Z]\w*)(\*?)`)
		seen := map[string]bool{}
		for _, m := range re.FindAllStringSubmatch(doc, -1) {
			name := m[1]
			if seen[name] || m[2] != "" { // drivers.Class* names a family
				continue
			}
			seen[name] = true
			if _, ok := ds[name]; !ok {
				t.Errorf("the guide names %s.%s, which package %s does not declare", pkg, name, pkg)
			}
		}
		if len(seen) == 0 {
			t.Errorf("the guide names nothing of package %s", pkg)
		}
	}
}

// TestModule checks that the module the guide sets up is the one its
// files import, with the Go version pinion needs.
func TestModule(t *testing.T) {
	doc, _ := readGuide(t)
	for _, want := range []string{"go mod init " + docModule, "module " + docModule, "_ \"" + docModule + "\""} {
		if !strings.Contains(doc, want) {
			t.Errorf("the guide does not say %q", want)
		}
	}
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(mod))
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	if want := "pinion needs " + goLine[1] + " or newer"; !strings.Contains(doc, want) {
		t.Errorf("the guide does not say %q, as go.mod's go line does", want)
	}
}

// modulePath returns the repository's module path.
func modulePath(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module (\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no module line")
	}
	return string(m[1])
}

// TestDoorbell writes the doorbell module's files into a directory inside
// this package, so that they build with this module's dependencies, with
// its import path in place of the guide's module path, then vets every
// package and runs the driver's tests. The directory's name starts with
// "_", so that ./... leaves it alone.
func TestDoorbell(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the guide's code with:", err)
	}
	_, blocks := readGuide(t)
	dir, err := os.MkdirTemp(".", "_doorbell")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dir = filepath.Base(dir) // "./_doorbell…" as MkdirTemp returns it is "_doorbell…"
	importPath := modulePath(t) + "/examples/guide/" + dir
	pkgs := map[string]bool{}
	var files []string
	for _, b := range blocks {
		if b.file == "" {
			continue
		}
		if filepath.IsAbs(b.file) || strings.Contains(b.file, "..") {
			t.Fatalf("%s: file %q is not inside the module", b, b.file)
		}
		text := b.text
		if strings.HasSuffix(b.file, ".go") {
			text = strings.ReplaceAll(text, `"`+docModule, `"`+importPath)
			pkgs["./"+filepath.ToSlash(filepath.Join(dir, filepath.Dir(b.file)))] = true
		}
		p := filepath.Join(dir, b.file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s: file %s is shown twice", b, b.file)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, b.file)
	}
	for _, want := range []string{"doorbell.go", "doorbell_test.go", "sample.toml", "cmd/pinion-custom/main.go"} {
		if !slices.Contains(files, want) {
			t.Errorf("the guide shows no file %s of the doorbell module (it shows %q)", want, files)
		}
	}
	list := make([]string, 0, len(pkgs))
	for p := range pkgs {
		list = append(list, p)
	}
	slices.Sort(list)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goTool, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("go %s:\n%s", strings.Join(args, " "), out)
	}
	run(append([]string{"vet"}, list...)...)
	run("test", "-count=1", "./"+filepath.ToSlash(dir))
}
