package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzServer sends arbitrary, correctly signed requests to the real
// handler: whatever the method, path, query or body, the answer is an AWS
// error or success, never a 500 (the store is up) and never a panic.
func FuzzServer(f *testing.F) {
	e := newEnv(f)
	e.handler.(*Server).log = slog.New(slog.DiscardHandler)
	seeds := []struct{ method, target, body string }{
		{"POST", "/clusters/demo/pod-identity-associations", `{"namespace":"a","serviceAccount":"b","roleArn":"arn:aws:iam::111122223333:role/r"}`},
		{"GET", "/clusters/demo/pod-identity-associations?maxResults=2&nextToken=eyJ2IjoxfQ", ""},
		{"POST", "/clusters/demo/pod-identity-associations/a-00000000000000000", `{"policy":"{}","disableSessionTags":true}`},
		{"DELETE", "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Acluster%2Fdemo?tagKeys=a&tagKeys=b", ""},
		{"POST", "/tags/arn:aws:eks:us-west-2:111122223333:cluster/demo", `{"tags":{"a":"b"}}`},
		{"POST", "/clusters/demo/assume-role-for-pod-identity", `{"token":"a.b.c"}`},
		{"POST", "/", "Action=GetCallerIdentity&Version=2011-06-15"},
		{"GET", "/clusters/%2e%2e/x", ""},
		{"POST", "/clusters", `{"name":"new","roleArn":"arn:aws:iam::111122223333:role/r"}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.body)
	}
	methods := map[string]bool{"GET": true, "POST": true, "DELETE": true, "PUT": true, "PATCH": true, "HEAD": true}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !methods[method] || !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+target, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.RequestURI = req.URL.RequestURI()
		service := "eks"
		switch {
		case strings.HasSuffix(req.URL.Path, "/assume-role-for-pod-identity"):
			service = "eks-auth"
		case req.URL.Path == "/":
			service = "sts"
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret},
			req, hex.EncodeToString(sum[:]), service, "us-west-2", time.Now()); err != nil {
			return
		}
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q %q: status %d: %s", method, target, body, w.Code, w.Body)
		}
		if w.Code >= 400 && w.Code != http.StatusMovedPermanently && w.Header().Get("X-Amzn-ErrorType") == "" && !strings.Contains(w.Body.String(), "<ErrorResponse") {
			t.Fatalf("%s %q: error %d without an AWS error type: %s", method, target, w.Code, w.Body)
		}
	})
}
