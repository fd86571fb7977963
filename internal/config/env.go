package config

import (
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var durationType = reflect.TypeOf(time.Duration(0))

// leaf is one configurable key: its dotted YAML path, environment name and value.
type leaf struct {
	key, env string
	secret   bool
	v        reflect.Value
}

// leaves lists every key of c in declaration order.
func leaves(c *Config) []leaf {
	var out []leaf
	var walk func(v reflect.Value, path []string, secret bool)
	walk = func(v reflect.Value, path []string, secret bool) {
		if v.Kind() == reflect.Struct && v.Type() != durationType {
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				name := strings.Split(f.Tag.Get("yaml"), ",")[0]
				walk(v.Field(i), append(append([]string{}, path...), name), f.Tag.Get("secret") == "true")
			}
			return
		}
		key := strings.Join(path, ".")
		out = append(out, leaf{key: key, env: EnvPrefix + strings.ToUpper(strings.Join(path, "_")), secret: secret, v: v})
	}
	walk(reflect.ValueOf(c).Elem(), nil, false)
	return out
}

// applyEnv sets keys from DIRECTUS_IRCD_* variables; an unknown one is an error naming it.
func applyEnv(c *Config, environ []string) error {
	byEnv := map[string]leaf{}
	for _, l := range leaves(c) {
		byEnv[l.env] = l
	}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		l, known := byEnv[name]
		if !known {
			return fmt.Errorf("environment variable %s is not a configuration key", name)
		}
		if err := setFromString(l.v, value); err != nil {
			return &FieldError{Key: l.key, Msg: fmt.Sprintf("from %s: %v", name, err)}
		}
	}
	return nil
}

func setFromString(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s", s)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// Masked renders the effective configuration as YAML with secrets replaced, for check-config.
func (c Config) Masked() string {
	cp := c
	for _, l := range leaves(&cp) {
		if l.secret && l.v.String() != "" {
			l.v.SetString("********")
		}
	}
	cp.Directus.URL = MaskURL(cp.Directus.URL)
	out, err := yaml.Marshal(cp)
	if err != nil {
		return "# cannot render: " + err.Error()
	}
	return string(out)
}

// EnvNames lists every environment variable name, sorted, for documentation tests.
func EnvNames() []string {
	var c Config
	var names []string
	for _, l := range leaves(&c) {
		names = append(names, l.env)
	}
	sort.Strings(names)
	return names
}

// MaskURL hides the user information (user:password@) of a URL, which may hold a secret. A
// URL that does not parse is masked after its scheme whenever it has an '@'.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if scheme, rest, ok := strings.Cut(raw, "://"); ok {
			if at := strings.LastIndexByte(rest, '@'); at >= 0 {
				return scheme + "://********@" + rest[at+1:]
			}
		}
		return raw
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://********@" + rest
}
