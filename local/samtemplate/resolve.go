package samtemplate

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Resolver evaluates intrinsic functions against local values.
type Resolver struct {
	Template *Template
	// Params holds parameter values; a parameter missing here takes its Default.
	Params map[string]string
	// Resource answers !Ref <resource> (attr == "") and !GetAtt <resource>.<attr>.
	Resource func(id, attr string) (string, error)
	// Pseudo holds pseudo parameters (AWS::Region, AWS::AccountId, ...); DefaultPseudo fills
	// the usual ones when nil.
	Pseudo map[string]string
}

// DefaultPseudo are the pseudo parameters used locally.
func DefaultPseudo() map[string]string {
	return map[string]string{
		"AWS::Region":    "us-east-1",
		"AWS::AccountId": "000000000000",
		"AWS::Partition": "aws",
		"AWS::URLSuffix": "amazonaws.com",
		"AWS::StackName": "iginbox-local",
		"AWS::StackId":   "arn:aws:cloudformation:us-east-1:000000000000:stack/iginbox-local/local",
	}
}

// noValue is what AWS::NoValue resolves to; containers drop it.
type noValue struct{}

// ErrUnresolved is wrapped when a reference cannot be resolved.
var ErrUnresolved = errors.New("unresolved reference")

// Param returns a parameter's value: Params, else its Default.
func (r *Resolver) Param(name string) (string, error) {
	if v, ok := r.Params[name]; ok {
		return v, nil
	}
	if r.Template != nil {
		if p, ok := r.Template.Parameters[name]; ok {
			if p.Default != nil {
				return *p.Default, nil
			}
			return "", fmt.Errorf("%w: parameter %s has no value and no default", ErrUnresolved, name)
		}
	}
	return "", fmt.Errorf("%w: unknown parameter %s", ErrUnresolved, name)
}

func (r *Resolver) pseudo(name string) (string, bool) {
	p := r.Pseudo
	if p == nil {
		p = DefaultPseudo()
	}
	v, ok := p[name]
	return v, ok
}

func (r *Resolver) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue{}, nil
	}
	if v, ok := r.pseudo(name); ok {
		return v, nil
	}
	if r.Template != nil {
		if _, ok := r.Template.Parameters[name]; ok {
			return r.Param(name)
		}
	}
	if r.Resource == nil {
		return nil, fmt.Errorf("%w: !Ref %s", ErrUnresolved, name)
	}
	return r.Resource(name, "")
}

// String resolves v and requires a scalar result.
func (r *Resolver) String(v any) (string, error) {
	out, err := r.Resolve(v)
	if err != nil {
		return "", err
	}
	switch out.(type) {
	case map[string]any, []any, noValue:
		return "", fmt.Errorf("value %v is not a scalar", out)
	}
	return scalarString(out), nil
}

// Resolve evaluates every intrinsic inside v and returns plain values.
func (r *Resolver) Resolve(v any) (any, error) {
	switch x := v.(type) {
	case Intrinsic:
		return r.call(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			rv, err := r.Resolve(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, drop := rv.(noValue); !drop {
				out[k] = rv
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			rv, err := r.Resolve(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if _, drop := rv.(noValue); !drop {
				out = append(out, rv)
			}
		}
		return out, nil
	}
	return v, nil
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

func (r *Resolver) call(in Intrinsic) (any, error) {
	switch in.Fn {
	case "Ref":
		name, ok := in.Arg.(string)
		if !ok {
			return nil, fmt.Errorf("!Ref argument %v is not a name", in.Arg)
		}
		return r.ref(name)
	case "Fn::GetAtt":
		id, attr, ok := RefName(in)
		if !ok {
			return nil, fmt.Errorf("bad !GetAtt %v", in.Arg)
		}
		if r.Resource == nil {
			return nil, fmt.Errorf("%w: !GetAtt %s.%s", ErrUnresolved, id, attr)
		}
		return r.Resource(id, attr)
	case "Fn::Sub":
		return r.sub(in.Arg)
	case "Fn::Join":
		l := asList(in.Arg)
		if len(l) != 2 {
			return nil, fmt.Errorf("bad !Join %v", in.Arg)
		}
		sep, err := r.String(l[0])
		if err != nil {
			return nil, err
		}
		items, err := r.Resolve(l[1])
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, it := range asList(items) {
			parts = append(parts, scalarString(it))
		}
		return strings.Join(parts, sep), nil
	case "Fn::Select":
		l := asList(in.Arg)
		if len(l) != 2 {
			return nil, fmt.Errorf("bad !Select %v", in.Arg)
		}
		idx, err := r.String(l[0])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(idx)
		if err != nil {
			return nil, fmt.Errorf("!Select index %q: %w", idx, err)
		}
		items, err := r.Resolve(l[1])
		if err != nil {
			return nil, err
		}
		list := asList(items)
		if i < 0 || i >= len(list) {
			return nil, fmt.Errorf("!Select index %d out of range", i)
		}
		return list[i], nil
	case "Fn::Split":
		l := asList(in.Arg)
		if len(l) != 2 {
			return nil, fmt.Errorf("bad !Split %v", in.Arg)
		}
		sep, err := r.String(l[0])
		if err != nil {
			return nil, err
		}
		s, err := r.String(l[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::If":
		l := asList(in.Arg)
		if len(l) != 3 {
			return nil, fmt.Errorf("bad !If %v", in.Arg)
		}
		name, _ := l[0].(string)
		ok, err := r.Condition(name)
		if err != nil {
			return nil, err
		}
		if ok {
			return r.Resolve(l[1])
		}
		return r.Resolve(l[2])
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition":
		return r.boolean(in)
	case "Fn::Base64":
		return r.String(in.Arg)
	}
	return nil, fmt.Errorf("intrinsic %s is not supported locally", in.Fn)
}

func (r *Resolver) sub(arg any) (any, error) {
	var (
		tmpl string
		vars map[string]any
	)
	switch x := arg.(type) {
	case string:
		tmpl = x
	case []any:
		if len(x) != 2 {
			return nil, fmt.Errorf("bad !Sub %v", arg)
		}
		tmpl, _ = x[0].(string)
		vars = asMap(x[1])
	default:
		return nil, fmt.Errorf("bad !Sub %v", arg)
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[2 : len(m)-1]
		var (
			val string
			err error
		)
		if v, ok := vars[name]; ok {
			val, err = r.String(v)
		} else if id, attr, found := strings.Cut(name, "."); found {
			if r.Resource == nil {
				err = fmt.Errorf("%w: ${%s}", ErrUnresolved, name)
			} else {
				val, err = r.Resource(id, attr)
			}
		} else {
			var v any
			v, err = r.ref(name)
			if err == nil {
				val = scalarString(v)
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return val
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return strings.ReplaceAll(out, "${!", "${"), nil
}

// Condition evaluates a named condition of the template.
func (r *Resolver) Condition(name string) (bool, error) {
	if r.Template == nil {
		return false, fmt.Errorf("%w: condition %s", ErrUnresolved, name)
	}
	c, ok := r.Template.Conditions[name]
	if !ok {
		return false, fmt.Errorf("%w: condition %s", ErrUnresolved, name)
	}
	v, err := r.Resolve(c)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is not boolean", name)
	}
	return b, nil
}

func (r *Resolver) boolean(in Intrinsic) (any, error) {
	switch in.Fn {
	case "Condition":
		name, _ := in.Arg.(string)
		return r.Condition(name)
	case "Fn::Equals":
		l := asList(in.Arg)
		if len(l) != 2 {
			return nil, fmt.Errorf("bad !Equals %v", in.Arg)
		}
		a, err := r.String(l[0])
		if err != nil {
			return nil, err
		}
		b, err := r.String(l[1])
		if err != nil {
			return nil, err
		}
		return a == b, nil
	}
	l := asList(in.Arg)
	vals := make([]bool, 0, len(l))
	for _, e := range l {
		v, err := r.Resolve(e)
		if err != nil {
			return nil, err
		}
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s operand %v is not boolean", in.Fn, v)
		}
		vals = append(vals, b)
	}
	switch in.Fn {
	case "Fn::Not":
		if len(vals) != 1 {
			return nil, fmt.Errorf("bad !Not %v", in.Arg)
		}
		return !vals[0], nil
	case "Fn::And":
		for _, b := range vals {
			if !b {
				return false, nil
			}
		}
		return true, nil
	default: // Fn::Or
		for _, b := range vals {
			if b {
				return true, nil
			}
		}
		return false, nil
	}
}
