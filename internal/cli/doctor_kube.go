package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podidentity/podidentity/internal/doctor"
)

var _ doctor.Kube = (*kubeAPI)(nil)

// call does one request to the API server and decodes its JSON answer
// into out; an error carries the API server's own message (a Status).
func (k *kubeAPI) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.Server+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if k.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+k.BearerToken)
	}
	resp, err := k.Client.Do(req)
	if err != nil {
		return fmt.Errorf("the Kubernetes API server: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("the Kubernetes API server: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var st metav1.Status
		json.Unmarshal(b, &st)
		if st.Message == "" {
			st.Message = resp.Status
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%s (%w)", st.Message, doctor.ErrNotFound)
		}
		return fmt.Errorf("the Kubernetes API server: %s", st.Message)
	}
	return json.Unmarshal(b, out)
}

func (k *kubeAPI) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	var p corev1.Pod
	if err := k.call(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/pods/"+url.PathEscape(name), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (k *kubeAPI) PodsOf(ctx context.Context, namespace, serviceAccount string) ([]corev1.Pod, error) {
	var l corev1.PodList
	q := url.Values{"fieldSelector": {"spec.serviceAccountName=" + serviceAccount}}
	if err := k.call(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/pods?"+q.Encode(), nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Token asks for the shortest token Kubernetes issues: it is spent at
// once and must be worth little if it leaks.
func (k *kubeAPI) Token(ctx context.Context, namespace, serviceAccount, audience string, pod *corev1.Pod) (string, error) {
	exp := int64(600)
	in := authnv1.TokenRequest{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenRequest"},
		Spec: authnv1.TokenRequestSpec{
			Audiences:         []string{audience},
			ExpirationSeconds: &exp,
			BoundObjectRef:    &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}
	var out authnv1.TokenRequest
	path := "/api/v1/namespaces/" + url.PathEscape(namespace) + "/serviceaccounts/" + url.PathEscape(serviceAccount) + "/token"
	if err := k.call(ctx, http.MethodPost, path, in, &out); err != nil {
		return "", err
	}
	return out.Status.Token, nil
}

func (k *kubeAPI) MutatingWebhookConfigurations(ctx context.Context) ([]admissionv1.MutatingWebhookConfiguration, error) {
	var l admissionv1.MutatingWebhookConfigurationList
	if err := k.call(ctx, http.MethodGet, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

func (k *kubeAPI) ReadyEndpoints(ctx context.Context, namespace, service string) (int, error) {
	var l discoveryv1.EndpointSliceList
	q := url.Values{"labelSelector": {discoveryv1.LabelServiceName + "=" + service}}
	if err := k.call(ctx, http.MethodGet, "/apis/discovery.k8s.io/v1/namespaces/"+url.PathEscape(namespace)+"/endpointslices?"+q.Encode(), nil, &l); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range l.Items {
		for _, e := range s.Endpoints {
			// An unset condition means ready (discovery/v1's contract).
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}
