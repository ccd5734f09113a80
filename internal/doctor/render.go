package doctor

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteText prints one line per check and its fix beneath, for people.
func (r Report) WriteText(w io.Writer) error {
	for _, c := range r.Checks {
		if _, err := fmt.Fprintf(w, "%-8s %-13s %s\n", c.Status, c.Name, c.Detail); err != nil {
			return err
		}
		if c.Fix != "" {
			if _, err := fmt.Fprintf(w, "         %-13s fix: %s\n", "", c.Fix); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteJSON prints the report for scripts.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK     bool    `json:"ok"`
		Checks []Check `json:"checks"`
	}{r.OK(), r.Checks})
}
