package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// kubeconfig is the part of a kubeconfig file the doctor needs: enough to
// call the API server over HTTPS as kubectl would, without client-go
// (which this module does not depend on and would more than double the
// binary for five GETs and one POST).
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token                 string    `yaml:"token"`
			TokenFile             string    `yaml:"tokenFile"`
			ClientCertificate     string    `yaml:"client-certificate"`
			ClientCertificateData string    `yaml:"client-certificate-data"`
			ClientKey             string    `yaml:"client-key"`
			ClientKeyData         string    `yaml:"client-key-data"`
			Exec                  *struct{} `yaml:"exec"`
			AuthProvider          *struct{} `yaml:"auth-provider"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// kubeAPI is how to reach and authenticate to one API server.
type kubeAPI struct {
	ClusterName string // the kubeconfig's name for it
	Server      string
	BearerToken string // empty with a client certificate
	Client      *http.Client
}

// kubeconfigPath is kubectl's choice: the flag, else the first file of
// $KUBECONFIG, else ~/.kube/config.
func kubeconfigPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return filepath.SplitList(env)[0]
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kube", "config")
}

// loadKubeconfig reads the current context of the file at path.
func loadKubeconfig(path string) (*kubeAPI, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	// Relative file names are relative to the kubeconfig, as for kubectl.
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	var clusterName, userName string
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			clusterName, userName = c.Context.Cluster, c.Context.User
		}
	}
	if clusterName == "" {
		return nil, fmt.Errorf("kubeconfig %s: current-context %q names no context", path, kc.CurrentContext)
	}
	api := &kubeAPI{ClusterName: clusterName}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	found := false
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		found = true
		api.Server = strings.TrimRight(c.Cluster.Server, "/")
		tlsConfig.InsecureSkipVerify = c.Cluster.InsecureSkipTLSVerify
		ca, err := fileOrData(rel(c.Cluster.CertificateAuthority), c.Cluster.CertificateAuthorityData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: cluster %s: certificate authority: %w", path, clusterName, err)
		}
		if ca != nil {
			tlsConfig.RootCAs = x509.NewCertPool()
			if !tlsConfig.RootCAs.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("kubeconfig %s: cluster %s: no PEM certificate in its certificate authority", path, clusterName)
			}
		}
	}
	if !found || api.Server == "" {
		return nil, fmt.Errorf("kubeconfig %s: no server for cluster %q", path, clusterName)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		if u.User.Exec != nil || u.User.AuthProvider != nil {
			return nil, fmt.Errorf("kubeconfig %s: user %s authenticates with an exec or auth-provider plugin, which the doctor does not run; "+
				"use a kubeconfig with a token (kubectl create token) or a client certificate", path, userName)
		}
		api.BearerToken = u.User.Token
		if u.User.TokenFile != "" {
			t, err := os.ReadFile(rel(u.User.TokenFile))
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s: user %s: %w", path, userName, err)
			}
			api.BearerToken = strings.TrimSpace(string(t))
		}
		cert, err := fileOrData(rel(u.User.ClientCertificate), u.User.ClientCertificateData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: user %s: client certificate: %w", path, userName, err)
		}
		key, err := fileOrData(rel(u.User.ClientKey), u.User.ClientKeyData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: user %s: client key: %w", path, userName, err)
		}
		if cert != nil {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s: user %s: client certificate: %w", path, userName, err)
			}
			tlsConfig.Certificates = []tls.Certificate{pair}
		}
	}
	api.Client = &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment},
	}
	return api, nil
}

// fileOrData is a kubeconfig's "x" (a file name) or "x-data" (base64).
func fileOrData(file, data string) ([]byte, error) {
	switch {
	case data != "":
		return base64.StdEncoding.DecodeString(data)
	case file != "":
		return os.ReadFile(file)
	}
	return nil, nil
}
