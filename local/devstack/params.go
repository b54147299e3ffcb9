package devstack

import "github.com/iginbox/iginbox/local/localrun"

// Parameter resolution lives in local/localrun, shared with local/invoke (make invoke).
type (
	// ParamSource tells where a parameter's local value came from (for the banner).
	ParamSource = localrun.ParamSource
	// ParamValue is one resolved parameter.
	ParamValue = localrun.ParamValue
)

// Sources of parameter values.
const (
	FromEnv       = localrun.FromEnv
	FromDevValue  = localrun.FromDevValue
	FromTemplate  = localrun.FromTemplate
	FromGenerated = localrun.FromGenerated
	FromSimulator = localrun.FromSimulator
)

var (
	// UpperSnake turns a parameter name into its environment variable name.
	UpperSnake = localrun.UpperSnake
	// DevDefaults are the documented local values of the template's parameters.
	DevDefaults = localrun.DevDefaults
	// ResolveParams gives every template parameter its local value.
	ResolveParams = localrun.ResolveParams
)
