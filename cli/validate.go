package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/troupe-dev/troupe/definitions"
)

// runValidate lints agent, workflow and tool YAML files against the loaded
// definitions (TROUPE_DEFINITIONS or the shipped examples), printing each
// problem as file:line:col: message.
func runValidate(cfg config, files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return errors.New("usage: troupe validate FILE [FILE ...]")
	}
	base, err := loadCatalog(cfg)
	if err != nil {
		return fmt.Errorf("load definitions: %w", err)
	}
	sources := make(map[string][]byte, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		sources[f] = data
	}
	found, err := definitions.Validate(base, sources)
	var problems definitions.Errors
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stdout, p.Error())
		}
		return fmt.Errorf("%d problem(s) in %d file(s)", len(problems), len(files))
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %d agent(s), %d workflow(s), %d tool(s)\n", len(found.Agents), len(found.Workflows), len(found.Tools))
	return nil
}
