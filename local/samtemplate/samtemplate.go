// Package samtemplate reads the AWS SAM template (template.yaml) so that local tools and tests
// use the same definitions as the deployed stack: the DynamoDB table, the SQS queues, the
// functions with their environment and events, and the parameters.
//
// CloudFormation's short-form intrinsic tags (!Ref, !GetAtt, !Sub, !If, !Equals, !Not, !Join,
// ...) and their long forms ({"Ref": ...}, {"Fn::Sub": ...}) are both parsed into Intrinsic
// values; Resolver evaluates them against local values.
//
// This package is for dev tools and tests only (it uses gopkg.in/yaml.v3); Lambda functions
// never import it.
package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Intrinsic is a CloudFormation intrinsic function call, e.g. {Fn: "Ref", Arg: "Table"} or
// {Fn: "Fn::GetAtt", Arg: []any{"EventsQueue", "Arn"}}. Fn is always the long name.
type Intrinsic struct {
	Fn  string
	Arg any
}

// Parameter is one template parameter.
type Parameter struct {
	Name        string
	Type        string
	Default     *string // nil when the parameter has no default
	NoEcho      bool
	Description string
	Raw         map[string]any
}

// Resource is one template resource with its Properties and Metadata left generic.
type Resource struct {
	LogicalID  string
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Raw        map[string]any
}

// Template is a parsed SAM template.
type Template struct {
	Path       string
	Parameters map[string]Parameter
	Conditions map[string]any
	Globals    map[string]any
	Resources  map[string]Resource
	Outputs    map[string]any
	Raw        map[string]any
}

// Load parses the template file at path.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	t.Path = path
	return t, nil
}

// FindRoot walks up from dir to the directory holding go.mod and template.yaml.
func FindRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(d, "go.mod")) && fileExists(filepath.Join(d, "template.yaml")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod with template.yaml above %s", dir)
		}
		d = parent
	}
}

// LoadRepo loads template.yaml of the repository that contains the working directory.
func LoadRepo() (*Template, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := FindRoot(wd)
	if err != nil {
		return nil, err
	}
	return Load(filepath.Join(root, "template.yaml"))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Parse parses template bytes.
func Parse(b []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("template is not a single YAML document")
	}
	v, err := convert(doc.Content[0])
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("template root is not a mapping")
	}
	t := &Template{
		Parameters: map[string]Parameter{},
		Conditions: asMap(root["Conditions"]),
		Globals:    asMap(root["Globals"]),
		Resources:  map[string]Resource{},
		Outputs:    asMap(root["Outputs"]),
		Raw:        root,
	}
	for name, pv := range asMap(root["Parameters"]) {
		pm := asMap(pv)
		p := Parameter{Name: name, Raw: pm}
		p.Type, _ = pm["Type"].(string)
		p.Description, _ = pm["Description"].(string)
		if d, ok := pm["Default"]; ok && d != nil {
			s := scalarString(d)
			p.Default = &s
		}
		p.NoEcho = truthy(pm["NoEcho"])
		t.Parameters[name] = p
	}
	for id, rv := range asMap(root["Resources"]) {
		rm := asMap(rv)
		r := Resource{LogicalID: id, Properties: asMap(rm["Properties"]), Metadata: asMap(rm["Metadata"]), Raw: rm}
		r.Type, _ = rm["Type"].(string)
		if r.Type == "" {
			return nil, fmt.Errorf("resource %s has no Type", id)
		}
		t.Resources[id] = r
	}
	return t, nil
}

// convert turns a YAML node into plain Go values (map[string]any, []any, string, int, float64,
// bool, nil) with intrinsic functions as Intrinsic.
func convert(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return convert(n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return convert(n.Content[0])
	}
	var v any
	switch n.Kind {
	case yaml.ScalarNode:
		v = scalar(n)
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			cv, err := convert(c)
			if err != nil {
				return nil, err
			}
			list = append(list, cv)
		}
		v = list
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			cv, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = cv
		}
		if len(m) == 1 {
			for k, a := range m {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					if k == "Condition" {
						// {"Condition": "X"} is only an intrinsic inside Fn::And/Or/Not; a
						// resource attribute named Condition is a mapping with more keys.
						if _, ok := a.(string); !ok {
							break
						}
					}
					v = Intrinsic{Fn: k, Arg: a}
				}
			}
		}
		if v == nil {
			v = m
		}
	default:
		return nil, fmt.Errorf("line %d: unsupported YAML node kind %d", n.Line, n.Kind)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		fn, err := tagFunction(n.Tag)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		if fn == "Fn::GetAtt" {
			if s, ok := v.(string); ok {
				before, after, found := strings.Cut(s, ".")
				if !found {
					return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
				}
				v = []any{before, after}
			}
		}
		return Intrinsic{Fn: fn, Arg: v}, nil
	}
	return v, nil
}

func tagFunction(tag string) (string, error) {
	name := strings.TrimPrefix(tag, "!")
	switch name {
	case "Ref", "Condition":
		return name, nil
	case "GetAtt", "Sub", "If", "Equals", "Not", "And", "Or", "Join", "Select", "Split",
		"Base64", "FindInMap", "GetAZs", "ImportValue", "Cidr", "Length", "ToJsonString":
		return "Fn::" + name, nil
	}
	return "", fmt.Errorf("unknown tag %s", tag)
}

func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!int":
		if i, err := strconv.Atoi(n.Value); err == nil {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b
		}
		switch strings.ToLower(n.Value) {
		case "yes", "on":
			return true
		case "no", "off":
			return false
		}
	case "!!null":
		return nil
	}
	return n.Value
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(x)
		return b
	}
	return false
}

// scalarString formats a scalar template value as CloudFormation would pass it as a string.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// ResourcesOfType returns the logical ids of the resources of a type, sorted.
func (t *Template) ResourcesOfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Resource types used by this package.
const (
	TypeFunction = "AWS::Serverless::Function"
	TypeTable    = "AWS::DynamoDB::Table"
	TypeQueue    = "AWS::SQS::Queue"
	TypeLogGroup = "AWS::Logs::LogGroup"
	TypeAlarm    = "AWS::CloudWatch::Alarm"
	TypeHTTPAPI  = "AWS::Serverless::HttpApi"
	TypeSecret   = "AWS::SecretsManager::Secret"
)
