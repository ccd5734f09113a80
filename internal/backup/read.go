package backup

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// Loader takes what Read decodes, in the order the document holds it; the
// caller commits it once Read has returned without an error, so that a
// document is loaded whole or not at all.
type Loader interface {
	Association(a *pi.Association) error
	ResourceTags(resource string, tags map[string]string) error
	Setting(key, value string) (string, error)
}

// Read decodes a document written by Write into l. It refuses unknown or
// repeated keys, data after the document, and a document that is not
// Format version 1, wherever its header stands.
func Read(r io.Reader, l Loader) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.DisallowUnknownFields()
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var head header
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("reading the export: %w", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("the export has %q twice", key)
		}
		seen[key] = true
		switch key {
		case "format":
			err = dec.Decode(&head.Format)
		case "version":
			err = dec.Decode(&head.Version)
		case "exportedAt":
			err = dec.Decode(&head.ExportedAt)
		case "associations":
			err = readAssociations(dec, l)
		case "resourceTags":
			err = readResourceTags(dec, l)
		case "settings":
			err = readSettings(dec, l)
		default:
			return fmt.Errorf("the export has an unknown key %q", key)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the export has data after its closing brace")
	}
	// Checked last, with nothing committed yet: the header may come in any
	// position.
	if head.Format != Format || head.Version != Version {
		return fmt.Errorf("not a podidentity export (format %q, version %d; want %q, %d)", head.Format, head.Version, Format, Version)
	}
	return nil
}

func readAssociations(dec *json.Decoder, l Loader) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for i := 0; dec.More(); i++ {
		var e association
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		a, err := e.toAssociation()
		if err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		if err := l.Association(a); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

func readResourceTags(dec *json.Decoder, l Loader) error {
	var tags map[string]map[string]string
	if err := dec.Decode(&tags); err != nil {
		return err
	}
	for _, res := range slices.Sorted(maps.Keys(tags)) {
		if err := l.ResourceTags(res, tags[res]); err != nil {
			return err
		}
	}
	return nil
}

func readSettings(dec *json.Decoder, l Loader) error {
	var settings map[string]string
	if err := dec.Decode(&settings); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		if _, err := l.Setting(k, settings[k]); err != nil {
			return err
		}
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("reading the export: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("reading the export: found %v where %q belongs", tok, want)
	}
	return nil
}
