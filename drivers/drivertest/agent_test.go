package drivertest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/agent"
)

// agentProblems returns the problems the agent's loader reports in the
// [[device]] tables of doc, as "line: text".
func agentProblems(t *testing.T, doc string) []string {
	t.Helper()
	_, err := agent.ParseConfig(File, []byte(doc))
	if err == nil {
		return nil
	}
	var ce *agent.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("agent.ParseConfig: %v (%T), want a *agent.ConfigError", err, err)
	}
	var out []string
	for _, p := range ce.Problems {
		// A syntax error has no key; it is the only problem then.
		if p.Key == "" || p.Key == "device" || strings.HasPrefix(p.Key, "device[") {
			out = append(out, fmt.Sprintf("%d: %s", p.Line, p))
		}
	}
	return sorted(out)
}

// ourProblems returns the problems drivertest reports in doc's tables,
// building each with its probe factory; complete is false when the
// document's common keys failed, since the agent then still builds some
// devices and reports more.
func ourProblems(t *testing.T, doc string) (probs []string, complete bool) {
	t.Helper()
	add := func(err error) {
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("error %v (%T), want a *ConfigError", err, err)
		}
		for _, p := range ce.Problems {
			probs = append(probs, fmt.Sprintf("%d: %s", p.Line, p))
		}
	}
	tbs, err := ParseTables(doc)
	if err != nil {
		add(err)
		return sorted(probs), false
	}
	for _, tb := range tbs {
		f, ok := probeFactories[tb.Driver]
		if !ok {
			return nil, false // the agent reports an unknown driver
		}
		for _, p := range tb.Problems(f) {
			probs = append(probs, fmt.Sprintf("%d: %s", p.Line, p))
		}
	}
	return sorted(probs), true
}

// sorted sorts "line: text" strings by line, then text.
func sorted(s []string) []string {
	slices.SortFunc(s, func(a, b string) int {
		var la, lb int
		fmt.Sscanf(a, "%d:", &la)
		fmt.Sscanf(b, "%d:", &lb)
		return cmp.Or(cmp.Compare(la, lb), strings.Compare(a, b))
	})
	return s
}

// compareWithAgent checks that drivertest reports what the agent reports
// for the device tables in doc: the same problems when the common keys are
// right, a subset of them otherwise. It returns how many problems the agent
// found.
func compareWithAgent(t *testing.T, doc string) int {
	t.Helper()
	// The node id is set so that the agent need not ask for the hostname;
	// it comes last so that it does not take in the document's keys.
	doc += "\n[agent]\nid = \"node\"\n"
	want := agentProblems(t, doc)
	got, complete := ourProblems(t, doc)
	if complete {
		if !slices.Equal(got, want) {
			t.Errorf("document:\n%s\ndrivertest reports:\n%s\nthe agent reports:\n%s", doc, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return len(want)
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("document:\n%s\ndrivertest reports %q, which the agent does not:\n%s", doc, g, strings.Join(want, "\n"))
		}
	}
	return len(want)
}

// agentRight are configurations without a problem.
var agentRight = []string{
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\npin = \"GPIO4\"\nchannel = 3\n[device.sensor]\noffset = 1.5\n[[device.chans]]\nn = 1\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-nokeys\"\nname = \"A\"\ninterval = \"5s\"\n",
	"device = [{ id = \"a\", driver = \"drivertest-probe\", on = true }]\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-entities\"\n[device.entity.relay]\nname = \"Pump\"\nicon = \"mdi:pump\"\n" +
		"[device.entity.temperature]\ndisabled = true\n[device.entity.door]\nenabled_by_default = false\n",
}

// agentWrong are configurations whose device tables both loaders must
// find the same problems in: every kind of mistake, in every TOML layout.
var agentWrong = []string{
	// Type errors, several at once, at every depth.
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nratio = \"x\"\non = 1\nchannel = 1.5\nwait = \"soon\"\npin = 17\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\n[device.sensor]\noffset = \"x\"\naddr = 300\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nsensor = 3\nnames = [1, 2]\nchans = [{n = \"x\"}]\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nsensor = { offset = true, gain = 1 }\n",
	// Unknown keys: near a known one, far from any, nested, under any.
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nchanel = 1\ncolour = 2\nnmae = \"x\"\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\n[device.sensor]\ngain = 1\n[device.light]\nr = 1\ng = 2\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nextra = { a = { b = 1 } }\nany = { c = 2 }\n[[device.chans]]\nn = 1\nm = 2\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\n\"quoted key\" = 1\n'lit.eral' = 2\na.b.c = 3\n",
	// Several devices, and the drivers that take no keys or return nothing.
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nchanel = 1\n\n[[device]]\nid = \"b\"\ndriver = \"drivertest-nokeys\"\npin = \"GPIO4\"\nintreval = \"1s\"\n\n[[device]]\nid = \"c\"\ndriver = \"drivertest-nil\"\n",
	"device = [{ id = \"a\", driver = \"drivertest-probe\", on = \"yes\" }, { id = \"b\", driver = \"drivertest-probe\", x = 1 }]\n",
	// Multi-line values before the key at fault, so lines must be counted
	// through them.
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nnames = [\n  \"a\",\n  \"b\", # c\n]\nextra = { s = \"\"\"\nx\ny\"\"\" }\nratio = \"x\"\n",
	// Keys in the wrong case, alone and beside the right one.
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nChannel = 1\n[device.Sensor]\noffset = 1.0\n[[device.chans]]\nN = 2\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\npin = \"GPIO4\"\nPIN = \"GPIO5\"\n",
	// A driver's own checks: KeyErrors at their keys' lines, nested and
	// in arrays, beside an error of no key and Decode's problems.
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-keyed\"\nchannel = 12\nnames = [\"\", \"b\",\n  \"\"]\nratio = 2.0\n[device.sensor]\naddr = 1\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-keyed\"\nchannel = 12\non = \"x\"\nchanel = 1\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-keyed\"\nnames = [1]\n[[device]]\nid = \"A\"\ndriver = \"drivertest-keyed\"\nchannel = 10\n",
	// Entity tables: for entities the device does not have, of the wrong
	// shape, with options that are wrong.
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-entities\"\n[device.entity.rleay]\nname = \"Pump\"\n[device.entity.Door]\ndisabled = true\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nchanel = 1\n[device.entity.relay]\nname = \"Pump\"\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-entities\"\nentity = 3\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-entities\"\n[device.entity]\nrelay = \"Pump\"\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-entities\"\n[device.entity.relay]\nnmae = \"Pump\"\nicon = \"pump\"\ndisabled = true\nenabled_by_default = true\n",
	// Common keys.
	"[[device]]\nid = \"a b\"\ndriver = \"drivertest-probe\"\nchanel = 1\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nname = \"\"\ninterval = 5\n",
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\n[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\n",
	"[[device]]\ndriver = \"drivertest-probe\"\n",
	"[[device]]\nid = \"a\"\n",
	"[device]\nid = \"a\"\n",
	// Syntax.
	"[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\nratio = \n",
	"[[device]\nid = \"a\"\n",
}

// TestAgentAgrees runs the agent's loader and drivertest on the same
// documents, end to end. Both decode through internal/devconf, but each
// has its own glue around it (the agent looks drivers up, recovers panics
// and folds a factory's error into the problems; drivertest builds with
// the factory the test names and returns them), and this is what keeps
// the two reporting the same problems.
func TestAgentAgrees(t *testing.T) {
	for i, doc := range agentRight {
		t.Run(fmt.Sprint("right", i), func(t *testing.T) {
			if n := compareWithAgent(t, doc); n != 0 {
				t.Errorf("the agent found %d problems in a right document", n)
			}
		})
	}
	for i, doc := range agentWrong {
		t.Run(fmt.Sprint("wrong", i), func(t *testing.T) {
			if n := compareWithAgent(t, doc); n == 0 {
				t.Errorf("the agent found no problem in a wrong document:\n%s", doc)
			}
		})
	}
}

// FuzzAgentAgrees is TestAgentAgrees on any device table.
func FuzzAgentAgrees(f *testing.F) {
	for _, doc := range append(slices.Clone(agentRight), agentWrong...) {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		compareWithAgent(t, doc)
	})
}
