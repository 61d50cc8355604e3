package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/troupe-dev/troupe/api"
)

// runOpenAPI prints the API's OpenAPI document, with no server running:
// 3.1 as served at /openapi.json, or with --3.0 Huma's downgrade to 3.0.3
// for tools that read no 3.1. Its server is TROUPE_PUBLIC_URL.
func runOpenAPI(cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v30 := fs.Bool("3.0", false, "print the OpenAPI 3.0.3 downgrade")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return fmt.Errorf("usage: troupe openapi [--3.0]")
	}
	doc, err := api.Document(cfg.PublicURL, *v30)
	if err != nil {
		return err
	}
	_, err = stdout.Write(doc)
	return err
}
