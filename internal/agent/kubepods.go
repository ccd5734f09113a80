package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// APIServerPods is a PodChecker that asks kube-apiserver:
// GET /api/v1/namespaces/NS/pods/NAME, which needs `get` on `pods`. It asks
// for the pod's metadata alone (PartialObjectMetadata), a few hundred
// bytes however large the pod's spec.
type APIServerPods struct {
	// URL is the API server's, e.g. https://10.96.0.1:443.
	URL string
	// Client carries the API server's CA and the agent's credentials.
	Client *http.Client
}

var _ PodChecker = (*APIServerPods)(nil)

// metadataOnly asks for PartialObjectMetadata, and takes the whole pod
// from an API server that cannot send it.
const metadataOnly = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

// maxPodBytes bounds the answer read: metadata is small, and even a whole
// pod is below etcd's 1.5 MiB object limit.
const maxPodBytes = 2 << 20

// dnsSubdomain is what Kubernetes allows in namespace and pod names; the
// check refuses anything else rather than build a path from it (".." would
// name another object).
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// PodGone is true on a 404 that kube-apiserver itself sent (a Status with
// reason NotFound) or on the pod of that name having another UID. Anything
// else, a 404 from something that is not the API server included, is an
// error: only a positive answer may stop a renewal.
func (p *APIServerPods) PodGone(ctx context.Context, namespace, name, uid string) (bool, error) {
	if !dnsSubdomain.MatchString(namespace) || !dnsSubdomain.MatchString(name) || uid == "" {
		return false, fmt.Errorf("checking pod %q in namespace %q: not a pod name and UID the API server could hold", name, namespace)
	}
	where := fmt.Sprintf("GET pod %s/%s", namespace, name)
	u := strings.TrimSuffix(p.URL, "/") + "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", where, err)
	}
	req.Header.Set("Accept", metadataOnly)
	resp, err := p.Client.Do(req)
	if err != nil {
		return false, fmt.Errorf("%s: %w", where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPodBytes+1))
	if err != nil {
		return false, fmt.Errorf("%s: reading the answer: %w", where, err)
	}
	if len(body) > maxPodBytes {
		return false, fmt.Errorf("%s: the answer is over %d bytes", where, maxPodBytes)
	}
	var obj struct {
		Kind     string `json:"kind"`
		Reason   string `json:"reason"` // of a Status
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
			UID       string `json:"uid"`
		} `json:"metadata"`
	}
	jsonErr := json.Unmarshal(body, &obj)
	switch {
	case resp.StatusCode == http.StatusNotFound && jsonErr == nil && obj.Kind == "Status" && obj.Reason == "NotFound":
		return true, nil
	case resp.StatusCode != http.StatusOK:
		// The Status message names the pod and the agent's account, never
		// a token; it tells the operator what RBAC is missing.
		return false, fmt.Errorf("%s: %s: %s", where, resp.Status, statusMessage(body))
	case jsonErr != nil:
		return false, fmt.Errorf("%s: the answer is not a JSON object: %w", where, jsonErr)
	case obj.Metadata.UID == "" || obj.Metadata.Name != name || (obj.Metadata.Namespace != "" && obj.Metadata.Namespace != namespace):
		return false, errors.New(where + ": the answer is not that pod's metadata")
	}
	return obj.Metadata.UID != uid, nil
}

// statusMessage is the message of a Kubernetes Status, or the start of a
// body that is not one.
func statusMessage(body []byte) string {
	var s struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &s) == nil && s.Message != "" {
		return s.Message
	}
	const max = 200
	if len(body) > max {
		body = body[:max]
	}
	return strings.TrimSpace(string(body))
}
