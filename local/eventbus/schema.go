package eventbus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schemas validates event details against the catalogue's JSON Schemas
// (docs/events/<detail-type>.schema.json, sharing docs/events/defs.schema.json).
type Schemas struct {
	byType map[string]*jsonschema.Schema
}

// LoadSchemas compiles every <detail-type>.schema.json of dir.
func LoadSchemas(dir string) (*Schemas, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	ids := map[string]string{} // detail type → $id
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", f, err)
		}
		m, _ := doc.(map[string]any)
		id, _ := m["$id"].(string)
		if id == "" {
			return nil, fmt.Errorf("schema %s has no $id", f)
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", f, err)
		}
		if name := strings.TrimSuffix(filepath.Base(f), ".schema.json"); name != "defs" {
			ids[name] = id
		}
	}
	s := &Schemas{byType: map[string]*jsonschema.Schema{}}
	for name, id := range ids {
		sch, err := c.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		s.byType[name] = sch
	}
	return s, nil
}

// DetailTypes returns the detail types that have a schema.
func (s *Schemas) DetailTypes() []string {
	out := make([]string, 0, len(s.byType))
	for t := range s.byType {
		out = append(out, t)
	}
	return out
}

// Validate checks one event's detail (Options.Validate).
func (s *Schemas) Validate(detailType string, detail []byte) error {
	sch, ok := s.byType[detailType]
	if !ok {
		return fmt.Errorf("no schema for detail-type %q", detailType)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(detail))
	if err != nil {
		return fmt.Errorf("detail is not JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return err
	}
	return nil
}
