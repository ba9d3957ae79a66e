package agent

import (
	"runtime/debug"
	"testing"
)

func TestModuleVersion(t *testing.T) {
	main := func(path, version string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: path, Version: version}}
	}
	custom := main("example.com/myagent", "(devel)")
	custom.Deps = []*debug.Module{{Path: "github.com/eclipse/paho.mqtt.golang", Version: "v1.5.1"}, {Path: "github.com/pinion-home/pinion", Version: "v1.4.0"}}
	replaced := func(version, dir string) *debug.BuildInfo {
		bi := main("example.com/myagent", "(devel)")
		bi.Deps = []*debug.Module{{Path: "github.com/pinion-home/pinion", Version: "v0.0.0", Replace: &debug.Module{Path: "example.com/fork", Version: version}}}
		if dir != "" {
			bi.Deps[0].Replace = &debug.Module{Path: dir}
		}
		return bi
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"go install @version", main("github.com/pinion-home/pinion", "v1.2.3"), true, "v1.2.3"},
		{"checkout build, -buildvcs=false", main("github.com/pinion-home/pinion", "(devel)"), true, "dev"},
		{"checkout build with VCS stamping", main("github.com/pinion-home/pinion", "v0.0.0-20261125224124-7e69e72e4a1f+dirty"), true, "v0.0.0-20261125224124-7e69e72e4a1f+dirty"},
		{"custom agent requiring pinion", custom, true, "v1.4.0"},
		{"no build info", nil, false, "dev"},
		{"custom agent with pinion replaced by a checkout", replaced("", "../pinion"), true, "dev"},
		{"custom agent with pinion replaced by a fork's release", replaced("v1.4.1", ""), true, "v1.4.1"},
	}
	for _, tt := range tests {
		if got := moduleVersion(tt.bi, tt.ok); got != tt.want {
			t.Errorf("%s: moduleVersion = %q, want %q", tt.name, got, tt.want)
		}
	}
}
