package podidentity

import (
	"encoding/base64"
	"encoding/json"
)

// Pagination tokens are keyset cursors: they name the last item of the
// previous page, not an offset, so rows inserted or deleted between pages
// never make a listing skip or repeat an item that exists throughout. They
// are opaque to clients; the version field lets the format change later.
type associationCursor struct {
	V  int    `json:"v"`
	NS string `json:"ns"`
	SA string `json:"sa"`
}

type clusterCursor struct {
	V     int    `json:"v"`
	After string `json:"after"`
}

func encodeAssociationCursor(k AssociationKey) string {
	return encodeCursor(associationCursor{V: 1, NS: k.Namespace, SA: k.ServiceAccount})
}

func decodeAssociationCursor(token string) (AssociationKey, error) {
	var c associationCursor
	if err := decodeCursor(token, &c); err != nil || c.V != 1 || c.NS == "" || c.SA == "" {
		return AssociationKey{}, errBadNextToken
	}
	return AssociationKey{Namespace: c.NS, ServiceAccount: c.SA}, nil
}

func encodeClusterCursor(after string) string {
	return encodeCursor(clusterCursor{V: 1, After: after})
}

func decodeClusterCursor(token string) (string, error) {
	var c clusterCursor
	if err := decodeCursor(token, &c); err != nil || c.V != 1 || c.After == "" {
		return "", errBadNextToken
	}
	return c.After, nil
}

var errBadNextToken = Errorf(CodeInvalidParameter, "The nextToken is not valid: pass the nextToken of a previous response unchanged")

func encodeCursor(v any) string {
	b, _ := json.Marshal(v) // cannot fail: plain structs of strings
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(token string, v any) error {
	if len(token) > 2048 {
		return errBadNextToken
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
