package provision

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// WriteConfigToken sets directus.url and directus.token in the YAML config
// file at path, keeping every other key and comment. A missing file is
// created with mode 0600; an existing one keeps its owner bits but loses any
// group and other access, since it now holds a secret. The write is atomic
// (temporary file + rename).
func WriteConfigToken(path, url, token string) error {
	doc, mode, err := readYAML(path)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	root, err := documentMapping(doc)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	section, err := mappingChild(root, "directus")
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	setScalar(section, "url", url)
	setScalar(section, "token", token)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("config %s: encode: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("config %s: encode: %w", path, err)
	}
	return writeAtomic(path, buf.Bytes(), mode)
}

func readYAML(path string) (*yaml.Node, fs.FileMode, error) {
	doc := &yaml.Node{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, 0o600, nil
	}
	if err != nil {
		return nil, 0, err
	}
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm() &^ 0o077
	}
	if err := yaml.Unmarshal(data, doc); err != nil {
		return nil, 0, fmt.Errorf("parse: %w", err)
	}
	return doc, mode, nil
}

// documentMapping returns the top-level mapping, creating it in an empty document.
func documentMapping(doc *yaml.Node) (*yaml.Node, error) {
	if doc.Kind == 0 {
		doc.Kind = yaml.DocumentNode
	}
	if len(doc.Content) == 0 {
		doc.Content = []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("the top level is not a mapping")
	}
	return root, nil
}

// mappingChild returns the mapping under key, adding it (or replacing an
// empty value) when needed.
func mappingChild(m *yaml.Node, key string) (*yaml.Node, error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key {
			continue
		}
		v := m.Content[i+1]
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: v.HeadComment, LineComment: v.LineComment}
		}
		if v.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s is not a mapping", key)
		}
		return v, nil
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v, nil
}

// setScalar sets key to a string value, keeping the key's comments.
func setScalar(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value,
				HeadComment: v.HeadComment, LineComment: v.LineComment, FootComment: v.FootComment}
			return
		}
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("config %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}
