// Package all imports every built-in driver so that it registers itself.
// Import it blank from a main package: _ "github.com/pinion-home/pinion/drivers/all".
package all
