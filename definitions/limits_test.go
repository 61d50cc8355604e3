package definitions

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// billionLaughs is a document whose aliases expand to 10^9 values.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("name: bomb\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [*l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d]\n", i, i, i-1)
	}
	return b.String()
}

func TestUntrustedYAMLIsRefused(t *testing.T) {
	t.Parallel()
	indented := func(levels int) string {
		var b strings.Builder
		for i := range levels {
			fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", i), i)
		}
		return b.String()
	}
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"over 1 MiB", "name: big\nsystem: " + strings.Repeat("x", 1<<20), "f.yaml: file is 1048594 bytes; the limit is 1048576 (1 MiB)"},
		{"too many tokens", "name: a\nsystem: x\ntools:\n" + strings.Repeat("- a\n", 25000), "f.yaml:10000:1: file has more than 20000 YAML tokens"},
		{"alias bomb", billionLaughs(), "f.yaml:6:45: document has more than 100000 values once aliases are expanded"},
		{"deep flow nesting", "name: a\ninput: " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n", "f.yaml:2:58: values are nested more than 50 levels deep"},
		{"deep block lists", "name: a\ninput:\n" + strings.Repeat("- ", 300) + "x\n", "f.yaml:3:201: values are nested too deep (indented past column 200)"},
		{"deep indentation", indented(300), "f.yaml:201:201: values are nested too deep (indented past column 200)"},
		{"nesting past 50, under the cheap bounds", "name: a\ninput: " + strings.Repeat("{a: ", 30) + strings.Repeat("[", 30) + strings.Repeat("]", 30) + strings.Repeat("}", 30) + "\n", "values are nested more than 50 levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Validate(nil, map[string][]byte{"f.yaml": []byte(tt.src)})
			require.ErrorContains(t, err, tt.want)
		})
	}
}
